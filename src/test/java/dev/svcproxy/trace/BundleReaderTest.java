package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BundleReaderTest {

  @Test
  void plainTextIpAddrAndRoute_parsedLikeTheirJson() {
    String addr =
        """
        1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
            link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
            inet 127.0.0.1/8 scope host lo
               valid_lft forever preferred_lft forever
        3: veth12ab@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master cni0 state UP group default
            link/ether 4a:f7:57:86:de:2d brd ff:ff:ff:ff:ff:ff link-netns cni-1234
        4: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000
            inet 172.20.20.16/24 brd 172.20.20.255 scope global eth0
            inet 172.20.20.99/24 scope global secondary eth0
        """;
    String routes =
        """
        default via 172.20.20.1 dev eth0 proto dhcp src 172.20.20.16 metric 100
        10.244.4.0/24 via 172.20.20.17 dev eth0
        blackhole 10.244.9.0/24
        local 172.20.20.16 dev eth0 table local proto kernel scope host src 172.20.20.16
        fe80::/64 dev eth0 proto kernel metric 256 pref medium
        """;
    NodeState n = BundleReader.fromFiles(Map.of("ip-addr.json", addr, "ip-route.json", routes));
    assertThat(n.iface("eth0").orElseThrow().addresses())
        .extracting(NodeState.Address::ip, NodeState.Address::secondary)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple("172.20.20.16", false),
            org.assertj.core.groups.Tuple.tuple("172.20.20.99", true));
    assertThat(n.iface("veth12ab").orElseThrow().master()).isEqualTo("cni0");
    assertThat(n.routes())
        .extracting(NodeState.Route::dst, NodeState.Route::type, NodeState.Route::table)
        .contains(
            org.assertj.core.groups.Tuple.tuple("0.0.0.0/0", "unicast", "main"),
            org.assertj.core.groups.Tuple.tuple("10.244.9.0/24", "blackhole", "main"),
            org.assertj.core.groups.Tuple.tuple("172.20.20.16/32", "local", "local"));
    assertThat(n.routes()).hasSize(4);
    assertThat(n.warnings()).isEmpty();
  }

  @Test
  void jsonRulesIpsetConntrackRecentAndSysctl_parsed() {
    Map<String, String> f =
        Map.of(
            "ip-rule.json",
                "[{\"priority\":0,\"src\":\"all\",\"table\":\"local\"},{\"priority\":100,\"src\":\"all\",\"fwmark\":\"0x200\",\"fwmask\":\"0xf00\",\"table\":\"42\"},{\"priority\":32766,\"src\":\"all\",\"table\":\"main\"}]",
            "ipset-save.txt",
                "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\nadd KUBE-CLUSTER-IP 10.96.0.1,tcp:443\nadd KUBE-CLUSTER-IP 10.96.0.10,udp:53\n",
            "conntrack.txt",
                "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.\n"
                    + "ipv4     2 unknown  2 599 src=10.244.1.1 dst=224.0.0.22 [UNREPLIED] src=224.0.0.22 dst=10.244.1.1 mark=0 use=1\n"
                    + "ipv4     2 tcp      6 86398 ESTABLISHED src=10.244.1.3 dst=10.96.0.10 sport=5555 dport=80 src=10.244.2.2 dst=10.244.1.3 sport=8080 dport=5555 [ASSURED] mark=0 use=1\nudp      17 29 src=10.244.1.3 dst=10.96.0.10 sport=5353 dport=53 [UNREPLIED] src=10.244.2.9 dst=10.244.1.3 sport=53 dport=5353 mark=16384 use=1\n",
            "xt_recent/KUBE-SEP-ABC",
                "src=10.244.1.3 ttl: 64 last_seen: 4295131519 oldest_pkt: 1 4295131519\n",
            "sysctl.txt", "net.ipv4.ip_forward = 1\nnet/ipv4/conf/all/rp_filter=2\n");
    NodeState n = BundleReader.fromFiles(f);
    assertThat(n.rules())
        .extracting(NodeState.RoutingRule::priority)
        .containsExactly(0, 100, 32766);
    assertThat(n.rules().get(1).fwmark()).isEqualTo(0x200L);
    assertThat(n.rules().get(1).fwmask()).isEqualTo(0xf00L);
    assertThat(n.ipsets().get("KUBE-CLUSTER-IP").members())
        .containsExactly("10.96.0.1,tcp:443", "10.96.0.10,udp:53");
    assertThat(n.conntrack()).hasSize(3);
    // An IGMP entry has no ports: its tuples still read, with port 0.
    assertThat(n.conntrack().get(0).reply())
        .isEqualTo(new NodeState.Tuple("224.0.0.22", "10.244.1.1", 0, 0));
    assertThat(n.conntrack().get(1).reply().src()).isEqualTo("10.244.2.2");
    assertThat(n.conntrack().get(2).seenReply()).isFalse();
    assertThat(n.conntrack().get(2).mark()).isEqualTo(16384L);
    assertThat(n.recent().get("KUBE-SEP-ABC")).containsExactly("10.244.1.3");
    assertThat(n.sysctl("net.ipv4.conf.all.rp_filter", "0")).isEqualTo("2");
    assertThat(n.warnings()).isEmpty();
  }

  @Test
  void ipsetListForm_readLikeTheSaveForm() {
    // A person may capture `ipset list` instead of `ipset save`: the same sets and members.
    Map<String, String> f =
        Map.of(
            "ipset-save.txt",
            """
            Name: KUBE-CLUSTER-IP
            Type: hash:ip,port
            Revision: 6
            Header: family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x5c3cac37
            Size in memory: 422
            References: 1
            Number of entries: 2
            Members:
            10.96.0.1,tcp:443
            10.96.0.10,udp:53
            """);
    NodeState n = BundleReader.fromFiles(f);
    assertThat(n.ipsets().get("KUBE-CLUSTER-IP").type()).isEqualTo("hash:ip,port");
    assertThat(n.ipsets().get("KUBE-CLUSTER-IP").members())
        .containsExactly("10.96.0.1,tcp:443", "10.96.0.10,udp:53");
    assertThat(n.warnings()).isEmpty();
  }

  @Test
  void badLines_becomeWarningsNamingFileAndLine_andMissingFilesAreNoted() {
    Map<String, String> f =
        Map.of(
            "sysctl.txt", "net.ipv4.ip_forward = 1\nthis is noise\n",
            "ipset-save.txt", "create S hash:ip\nadd S 10.0.0.1\nbogus\n",
            "iptables-save.txt",
                "$ sudo iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n-A INPUT !\nCOMMIT\n+ stray\n",
            "conntrack.txt", "tcp 6 10 ESTABLISHED src=1.2.3.4\n");
    NodeState n = BundleReader.fromFiles(f);
    assertThat(n.warnings())
        .anyMatch(w -> w.startsWith("sysctl.txt:2:"))
        .anyMatch(w -> w.startsWith("ipset-save.txt:3:"))
        .noneMatch(w -> w.startsWith("iptables-save.txt:1:")) // a shell prompt
        .anyMatch(w -> w.startsWith("iptables-save.txt:5:"))
        .anyMatch(w -> w.startsWith("iptables-save.txt:7:"))
        .anyMatch(w -> w.startsWith("conntrack.txt:1:"));
    assertThat(n.notes())
        .anyMatch(s -> s.contains("no ip-addr.json"))
        .anyMatch(s -> s.contains("no ip-rule.json"));
    assertThat(n.iptables().get(0).table("filter").orElseThrow().rules()).hasSize(1);
  }

  @Test
  void badValuesInEveryFile_becomeFileLineWarnings_andTheTraceGoesOn() {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", TracerTestAccess.ADDR);
    f.put("ip-route.json", TracerTestAccess.ROUTES);
    f.put(
        "iptables-save.txt",
        """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -p tcp -m tcp --dport abc -j DROP
        -A INPUT -m mark --mark 0xZZ -j DROP
        -A INPUT -s 10.0.0.0/33 -j DROP
        -A INPUT -p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset
        COMMIT
        """);
    f.put(
        "conntrack.txt",
        "tcp      6 86398 ESTABLISHED src=10.0.1.7 dst=192.168.0.2 sport=x dport=80 src=192.168.0.2"
            + " dst=10.0.1.7 sport=80 dport=5555 [ASSURED] mark=0 use=1\n");
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = x\n");
    f.put("ip-rule.json", "[{\"priority\":0,\"table\":\"local\"},\n{\"priority\": oops}]");

    NodeState n = BundleReader.fromFiles(f);

    assertThat(n.warnings())
        .anyMatch(w -> w.startsWith("iptables-save.txt:5: ") && w.contains("--dport abc"))
        .anyMatch(w -> w.startsWith("iptables-save.txt:6: ") && w.contains("0xZZ"))
        .anyMatch(w -> w.startsWith("iptables-save.txt:7: ") && w.contains("10.0.0.0/33"))
        .anyMatch(w -> w.startsWith("conntrack.txt:1: ") && w.contains("sport=x"))
        .anyMatch(w -> w.startsWith("sysctl.txt:2: ") && w.contains("rp_filter = x"))
        .anyMatch(w -> w.startsWith("ip-rule.json:2: ") && w.contains("not valid JSON"));
    assertThat(n.conntrack()).isEmpty();
    assertThat(n.sysctls())
        .containsEntry("net.ipv4.ip_forward", "1")
        .doesNotContainKey("net.ipv4.conf.all.rp_filter");

    // The bad DROP rules are never taken (could not evaluate, assumed no match); the good REJECT
    // after them still is.
    TraceResult web =
        new Tracer(n).trace(new PacketSpec("10.0.1.7", 5555, "192.168.0.2", 80, "tcp", "cni0"));
    assertThat(web.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT));
    TraceResult ssh =
        new Tracer(n).trace(new PacketSpec("10.0.1.7", 5555, "192.168.0.2", 22, "tcp", "cni0"));
    assertThat(ssh.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.REJECT));
    assertThat(web.warnings()).anyMatch(w -> w.contains("could not evaluate"));
  }

  @Test
  void read_nonUtf8File_isReadLenientlyWithAWarning(@TempDir Path dir) throws Exception {
    byte[] text =
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"caf\u00e9\" -j ACCEPT\nCOMMIT\n"
            .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
    Files.write(dir.resolve("iptables-save.txt"), text);

    NodeState n = BundleReader.read(dir);

    assertThat(n.warnings())
        .anyMatch(w -> w.startsWith("iptables-save.txt:3: ") && w.contains("UTF-8"));
    assertThat(n.iptables().get(0).table("filter").orElseThrow().rules()).hasSize(1);
  }

  @Test
  void read_plainTextUnderTxtNames_isReadAndStrayFilesAreNoted(@TempDir Path dir) throws Exception {
    Files.writeString(
        dir.resolve("ip-addr.txt"),
        "user@node1:~$ ip addr\n1: eth0: <BROADCAST,UP,LOWER_UP> mtu 1500 state UP\n"
            + "    inet 192.168.0.2/24 brd 192.168.0.255 scope global eth0\n");
    Files.writeString(
        dir.resolve("ip-route.txt"),
        "[root@node1 ~]# ip route\ndefault via 192.168.0.1 dev eth0\n"
            + "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.2\n");
    Files.writeString(dir.resolve("notes.md"), "what I saw");

    NodeState n = BundleReader.read(dir);

    assertThat(n.iface("eth0").orElseThrow().addresses())
        .extracting(NodeState.Address::ip)
        .containsExactly("192.168.0.2");
    assertThat(n.routes())
        .filteredOn(r -> r.table().equals("main"))
        .extracting(NodeState.Route::dst)
        .containsExactly("0.0.0.0/0", "192.168.0.0/24");
    assertThat(n.warnings()).isEmpty();
    assertThat(n.notes())
        .anyMatch(s -> s.contains("notes.md"))
        .noneMatch(s -> s.contains("no ip-addr"));
  }

  @Test
  void badRouteMetricAndBadJsonLine_areWarningsNotCrashes() {
    NodeState n =
        BundleReader.fromFiles(
            Map.of(
                "ip-route.json",
                "default via 192.168.0.1 dev eth0 metric x\n10.0.0.0/8 dev eth0\n",
                "ip-addr.json",
                "[\n{\"ifname\": \"eth0\",\n \"addr_info\": [ {\"family\": \"inet\", \"local\": \"192.168.0.2\"  \"prefixlen\": 24}]}]"));
    assertThat(n.warnings())
        .anyMatch(w -> w.startsWith("ip-route.json:1: ") && w.contains("metric"))
        .anyMatch(w -> w.startsWith("ip-addr.json:3: ") && w.contains("not valid JSON"));
    assertThat(n.routes())
        .filteredOn(r -> r.table().equals("main"))
        .extracting(NodeState.Route::dst)
        .containsExactly("10.0.0.0/8");
  }

  @Test
  void iptablesListingAndSOutput_underTheSaveName_areReadAsRules() throws Exception {
    String listing;
    try (var in = getClass().getResourceAsStream("/dumps/listing/nft-L-v.txt")) {
      listing = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    }
    NodeState n = BundleReader.fromFiles(Map.of("iptables-save.txt", listing));
    // From the listing's own text: nat KUBE-SERVICES rule 1 sends 10.96.0.10:80 to KUBE-SVC-A.
    assertThat(n.iptables().get(0).table("nat").orElseThrow().rules("KUBE-SERVICES").get(0).print())
        .isEqualTo(
            "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment \"default/web:http"
                + " cluster IP\" -m tcp --dport 80 -j KUBE-SVC-A");
    assertThat(n.warnings()).isEmpty();

    NodeState s =
        BundleReader.fromFiles(
            Map.of(
                "iptables-save.txt",
                "root@node1:/# iptables -t nat -S\n-P PREROUTING ACCEPT\n-N KUBE-SERVICES\n"
                    + "-A PREROUTING -j KUBE-SERVICES\n"));
    assertThat(s.iptables().get(0).table("nat").orElseThrow().rules()).hasSize(1);
    assertThat(s.warnings()).isEmpty();
  }

  @Test
  void plainIpRuleUnderTxtName_andWindowsLineEnds_areRead() {
    NodeState n =
        BundleReader.fromFiles(
            Map.of(
                "ip-rule.txt",
                "$ ip rule\r\n0:\tfrom all lookup local\r\n100:\tfrom all fwmark 0x200/0xf00 lookup 42\r\n"
                    + "200:\tnot from 10.0.0.0/8 iif eth0 blackhole\r\n32766:\tfrom all lookup main\r\n"
                    + "300:\tfrom all fwmark 0xZZ lookup 7\r\n"));
    assertThat(n.rules())
        .extracting(NodeState.RoutingRule::priority, NodeState.RoutingRule::table)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple(0, "local"),
            org.assertj.core.groups.Tuple.tuple(100, "42"),
            org.assertj.core.groups.Tuple.tuple(200, ""),
            org.assertj.core.groups.Tuple.tuple(32766, "main"));
    assertThat(n.rules().get(1).fwmark()).isEqualTo(0x200L);
    assertThat(n.rules().get(1).fwmask()).isEqualTo(0xf00L);
    assertThat(n.rules().get(2))
        .extracting(
            NodeState.RoutingRule::not,
            NodeState.RoutingRule::from,
            NodeState.RoutingRule::iif,
            NodeState.RoutingRule::action)
        .containsExactly(true, "10.0.0.0/8", "eth0", "blackhole");
    assertThat(n.warnings())
        .containsExactly(
            "ip-rule.txt:6: not a mark: 0xZZ, rule skipped: 300:\tfrom all fwmark 0xZZ lookup 7");
  }
}
