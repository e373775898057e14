package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * hairpin-not-masqueraded in IPVS mode on hand-written bundles: pod 10.244.1.2 behind cni0 is the
 * real server of ClusterIP 10.96.0.20:80. Upstream kube-proxy (pkg/proxy/ipvs/proxier.go,
 * syncProxyRules, "Handle traffic that loops back to the originator with SNAT") adds {@code
 * 10.244.1.2,tcp:8080,10.244.1.2} to KUBE-LOOP-BACK for it and masquerades the set in
 * KUBE-POSTROUTING ({@code dst,dst,src}); with --cluster-cidr=10.244.0.0/16 nothing else marks the
 * pod's own traffic.
 */
class IpvsLoopBackChecksTest {
  private static final String ID = "hairpin-not-masqueraded";
  private static final String MEMBER = "10.244.1.2,tcp:8080,10.244.1.2";

  private static final String ADDR =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.0.5\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.244.1.1\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"veth2\",\"flags\":[\"UP\"],\"master\":\"cni0\",\"addr_info\":[]},"
          + "{\"ifname\":\"kube-ipvs0\",\"flags\":[\"BROADCAST\",\"NOARP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.96.0.20\",\"prefixlen\":32}]}]";
  private static final String ROUTES =
      "default via 10.0.0.1 dev eth0\n"
          + "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.5\n"
          + "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1\n"
          + "local 10.0.0.5 dev eth0 table local proto kernel scope host src 10.0.0.5\n"
          + "local 10.96.0.20 dev kube-ipvs0 table local proto kernel scope host src 10.96.0.20\n";
  private static final String IPVS =
      "-A -t 10.96.0.20:80 -s rr\n-a -t 10.96.0.20:80 -r 10.244.1.2:8080 -m -w 1\n";
  private static final String LOOP_BACK_RULE =
      "-A KUBE-POSTROUTING -m comment --comment \"Kubernetes endpoints dst ip:port, source ip for"
          + " solving hairpin purpose\" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j"
          + " MASQUERADE";
  private static final String CIDR_RULE =
      "-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment \"Kubernetes service cluster ip +"
          + " port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j"
          + " KUBE-MARK-MASQ";

  private static String nat(String... rules) {
    StringBuilder b =
        new StringBuilder(
            "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                + ":POSTROUTING ACCEPT [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
                + ":KUBE-POSTROUTING - [0:0]\n:KUBE-SERVICES - [0:0]\n"
                + "-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n"
                + "-A POSTROUTING -j KUBE-POSTROUTING\n"
                + "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n");
    for (String r : rules) {
      b.append(r).append('\n');
    }
    b.append("-A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE\n");
    b.append("-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n");
    return b.append("COMMIT\n").toString();
  }

  private static String sets(String loopBackMembers) {
    return "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
        + "add KUBE-CLUSTER-IP 10.96.0.20,tcp:80\n"
        + "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536\n"
        + loopBackMembers;
  }

  private static Map<String, String> node(String nat, String sets) {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", ADDR);
    f.put("ip-route.json", ROUTES);
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 1\n");
    f.put("iptables-save.txt", nat);
    f.put("ipset-save.txt", sets);
    f.put("ipvsadm-save.txt", IPVS);
    return f;
  }

  private static DoctorReport examine(Map<String, String> files) {
    return Doctor.standard().examine(DoctorInputs.files(files, Optional.empty()));
  }

  private static List<Finding> find(DoctorReport r) {
    return r.findings().stream().filter(f -> f.id().equals(ID)).toList();
  }

  @Test
  void emptyLoopBackSet_localEndpoint_named_withRealServerSetAndRuleLines() {
    Finding f =
        find(examine(node(nat(CIDR_RULE, LOOP_BACK_RULE), sets("")))).stream()
            .findFirst()
            .orElseThrow();
    assertThat(f.severity()).isEqualTo(Severity.ERROR);
    assertThat(f.summary())
        .startsWith("1 local endpoint(s) of a ClusterIP missing from KUBE-LOOP-BACK");
    // Lines counted by hand in the strings above: ipvsadm line 2, ipset line 3, nat line 14.
    assertThat(f.evidence())
        .containsExactly(
            new Evidence("ipvsadm-save.txt:2", "-a -t 10.96.0.20:80 -r 10.244.1.2:8080 -m -w 1"),
            new Evidence(
                "ipset-save.txt:3",
                "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536"),
            new Evidence("iptables-save.txt:14", LOOP_BACK_RULE));
    assertThat(f.fix()).contains("`ipset add KUBE-LOOP-BACK " + MEMBER + "`");
  }

  @Test
  void entryPresent_notNamed() {
    assertThat(
            find(
                examine(
                    node(
                        nat(CIDR_RULE, LOOP_BACK_RULE),
                        sets("add KUBE-LOOP-BACK " + MEMBER + "\n")))))
        .isEmpty();
  }

  @Test
  void entryForAnotherPortOrSource_stillNamed() {
    // dst,dst,src: the port and the source address are part of the match too.
    assertThat(
            find(
                examine(
                    node(
                        nat(CIDR_RULE, LOOP_BACK_RULE),
                        sets(
                            "add KUBE-LOOP-BACK 10.244.1.2,tcp:80,10.244.1.2\n"
                                + "add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.3\n")))))
        .hasSize(1);
  }

  @Test
  void entryPresent_ruleMissing_namedForTheRule() {
    Finding f =
        find(examine(node(nat(CIDR_RULE), sets("add KUBE-LOOP-BACK " + MEMBER + "\n")))).stream()
            .findFirst()
            .orElseThrow();
    assertThat(f.summary()).startsWith("No rule masquerades KUBE-LOOP-BACK in KUBE-POSTROUTING");
    assertThat(f.fix())
        .contains(
            "`iptables -t nat -I KUBE-POSTROUTING -m set --match-set KUBE-LOOP-BACK dst,dst,src -j"
                + " MASQUERADE`");
  }

  @Test
  void masqueradeAll_marksThePodAnyway_notNamed() {
    // kube-proxy --masquerade-all: KUBE-SERVICES marks every ClusterIP packet, the pod's too.
    String all = "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ";
    assertThat(find(examine(node(nat(all, LOOP_BACK_RULE), sets(""))))).isEmpty();
    // A --cluster-cidr that leaves the pod out marks it too.
    String other = CIDR_RULE.replace("10.244.0.0/16", "10.200.0.0/16");
    assertThat(find(examine(node(nat(other, LOOP_BACK_RULE), sets(""))))).isEmpty();
  }

  @Test
  void remoteEndpoint_notNamed() {
    Map<String, String> f = node(nat(CIDR_RULE, LOOP_BACK_RULE), sets(""));
    f.put("ipvsadm-save.txt", IPVS.replace("10.244.1.2", "10.244.2.2"));
    assertThat(find(examine(f))).isEmpty();
  }

  @Test
  void ipsetListingCut_notCalledEmpty_assumed() {
    // `ipset save | head -4` ends before KUBE-LOOP-BACK's members would start: what it lacks is
    // unknown, not absent (InputCoverage.whole).
    Map<String, String> f =
        node(nat(CIDR_RULE, LOOP_BACK_RULE), "$ ipset save | head -4\n" + sets(""));
    DoctorReport r = examine(f);
    assertThat(find(r)).isEmpty();
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("ipset save | head -4") && a.contains("KUBE-LOOP-BACK"));
    // The same lines without the command that cut them: named.
    assertThat(find(examine(node(nat(CIDR_RULE, LOOP_BACK_RULE), sets(""))))).hasSize(1);
  }
}
