package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.testutil.Seed000Bundle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The IPVS checks on hand-written bundles: seeds 000 and 001 as their authors saw the nodes (their
 * `ip addr`, `ipvsadm` and iptables output), and the variants each seed compares.
 */
class IpvsCheckTest {
  @TempDir Path tmp;

  // --- seed 000: the node 10.19.136.10, kube-proxy 1.9 in IPVS mode ---------------------------

  static final String ADDR_000 = Seed000Bundle.ADDR;
  static final String ROUTES_000 = Seed000Bundle.ROUTES;
  static final String IPVS_000 = Seed000Bundle.SERVICES;
  static final String IPSETS_000 = Seed000Bundle.IPSETS;
  static final String FAILING_000 = Seed000Bundle.FAILING;

  /** The working node's nat table, from the seed ("正常机器"), with {@code rule} for ClusterIPs. */
  static String working(String clusterIpRule) {
    return """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :KUBE-MARK-MASQ - [0:0]
        :KUBE-NODE-PORT - [0:0]
        :KUBE-POSTROUTING - [0:0]
        :KUBE-SERVICES - [0:0]
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
        -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -m mark --mark 0x4000/0x4000 -j MASQUERADE
        RULE
        -A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
        -A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
        COMMIT
        """
        .replace("RULE", clusterIpRule);
  }

  static final String POD_CIDR_RULE =
      "-A KUBE-SERVICES ! -s 172.16.128.0/17 -m comment --comment \"Kubernetes service cluster ip"
          + " + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j"
          + " KUBE-MARK-MASQ";

  private static Map<String, String> seed000(String nat) {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", ADDR_000);
    f.put("ip-route.txt", ROUTES_000);
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 1\n");
    f.put("iptables-save.txt", nat);
    f.put("ipset-save.txt", IPSETS_000);
    f.put("ipvsadm-save.txt", IPVS_000);
    return f;
  }

  private static DoctorReport examine(Map<String, String> files) {
    DoctorReport r = Doctor.standard().examine(DoctorInputs.files(files, Optional.empty()));
    System.out.println(DoctorFormatter.text(r));
    return r;
  }

  private static Optional<Finding> finding(DoctorReport r, String id) {
    return r.findings().stream().filter(f -> f.id().equals(id)).findFirst();
  }

  @Test
  void seed000FailingNode_checksWriteNothingToStdout() throws Exception {
    // stdout carries the doctor's report only (`doctor -o json | jq`): a check that prints
    // (a left-over debug line) would break it. The IPVS checks trace the node's own connections.
    java.io.PrintStream saved = System.out;
    java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
    try (java.io.PrintStream capture = new java.io.PrintStream(buf, true, "UTF-8")) {
      System.setOut(capture);
      Doctor.standard().examine(DoctorInputs.files(seed000(FAILING_000), Optional.empty()));
    } finally {
      System.setOut(saved);
    }
    assertThat(buf.toString(java.nio.charset.StandardCharsets.UTF_8)).isEmpty();
  }

  @Test
  void seed000FailingNode_namesMissingClusterCidrAndVipAsSource() {
    DoctorReport r = examine(seed000(FAILING_000));

    assertThat(r.findings())
        .extracting(Finding::id)
        .containsExactlyInAnyOrder("missing-cluster-cidr", "vip-as-source");
    Finding cidr = finding(r, "missing-cluster-cidr").orElseThrow();
    assertThat(cidr.severity()).isEqualTo(Severity.ERROR);
    assertThat(cidr.references()).contains("seed 000");
    // The one KUBE-MARK-MASQ rule KUBE-SERVICES has is the NodePort one, line 22 of the seed's
    // table (counted by hand), and the ClusterIP set it would have matched is line 2 of the sets.
    assertThat(cidr.evidence())
        .extracting(Evidence::toString)
        .contains(
            "iptables-save.txt:22: -A KUBE-SERVICES -p tcp -m tcp -m set --match-set"
                + " KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ",
            "ipset-save.txt:2: add KUBE-CLUSTER-IP 10.20.0.1,tcp:443");
    // The seed's tcpdump: the SYN leaves eth0 as 10.20.0.1 -> an apiserver:6443, unanswered.
    assertThat(cidr.evidence())
        .anySatisfy(
            e ->
                assertThat(e.text())
                    .startsWith("from the node: leaves 10.20.0.1 -> 10.19.")
                    .contains(":6443 on eth0, not masqueraded")
                    .contains("REPLY_NOT_ROUTED_BACK"));

    Finding vip = finding(r, "vip-as-source").orElseThrow();
    assertThat(vip.summary()).contains("10.20.0.1:443").contains("VIP 10.20.0.1");
    assertThat(vip.evidence())
        .extracting(Evidence::toString)
        .contains(
            "ip-addr.json: kube-ipvs0: inet 10.20.0.1/32",
            "ip-route.txt:5: local 10.20.0.1 dev kube-ipvs0 table local proto kernel scope host"
                + " src 10.20.0.1",
            "ipvsadm-save.txt:1: -A -t 10.20.0.1:443 -s rr -p 10800");
    assertThat(vip.fix()).contains("--cluster-cidr").contains("-s 10.20.0.1/32 -j MASQUERADE");
  }

  @Test
  void seed000WorkingNode_clusterCidrIsThePodCidr_noFinding() {
    DoctorReport r = examine(seed000(working(POD_CIDR_RULE)));

    assertThat(r.findings()).isEmpty();
  }

  @Test
  void seed000Detour_clusterCidrIsTheServiceCidr_namedAsServiceCidr() {
    DoctorReport r =
        examine(seed000(working(POD_CIDR_RULE.replace("172.16.128.0/17", "10.20.0.0/16"))));

    assertThat(r.findings())
        .extracting(Finding::id)
        .containsExactlyInAnyOrder("missing-cluster-cidr", "vip-as-source");
    Finding cidr = finding(r, "missing-cluster-cidr").orElseThrow();
    assertThat(cidr.summary()).contains("10.20.0.0/16").contains("service CIDR");
    assertThat(cidr.evidence()).extracting(Evidence::where).contains("iptables-save.txt:15");
  }

  @Test
  void noClusterCidr_upstreamSrcDstRule_noFinding() {
    // kube-proxy 1.11+ without a detector: VIP-sourced packets are marked (PR #63319).
    DoctorReport r =
        examine(
            seed000(
                working(
                    "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP src,dst -j"
                        + " KUBE-MARK-MASQ")));

    assertThat(r.findings()).isEmpty();
  }

  @Test
  void masqueradeAll_noFinding() {
    DoctorReport r =
        examine(
            seed000(
                working(
                    "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j"
                        + " KUBE-MARK-MASQ")));

    assertThat(r.findings()).isEmpty();
  }

  @Test
  void seed000_nodeYamlFlags_citedAsEvidence() {
    Map<String, String> f = seed000(FAILING_000);
    f.put("node.yaml", "nodeName: n1\nproxyMode: ipvs\nproxyArgs: [--proxy-mode=ipvs]\n");

    Finding cidr = finding(examine(f), "missing-cluster-cidr").orElseThrow();

    assertThat(cidr.evidence())
        .anySatisfy(
            e -> {
              assertThat(e.where()).isEqualTo("node.yaml:3");
              assertThat(e.text()).contains("no --cluster-cidr");
            });
  }

  @Test
  void proxyModeIptablesInNodeYaml_ipvsChecksDoNotRun() {
    Map<String, String> f = seed000(FAILING_000);
    f.put("node.yaml", "proxyMode: iptables\n");

    assertThat(examine(f).findings()).isEmpty();
  }

  @Test
  void vipOnKubeIpvs0_realServerOnTheNodeItself_replyReturns_noVipAsSource() {
    // A real server on the node: the reply to the VIP is local, so it comes back.
    Map<String, String> f = seed000(working(POD_CIDR_RULE));
    f.put(
        "ipvsadm-save.txt",
        "-A -t 10.20.0.1:443 -s rr\n-a -t 10.20.0.1:443 -r 10.19.136.10:6443 -m -w 1\n");
    f.put("iptables-save.txt", FAILING_000);

    DoctorReport r = examine(f);

    assertThat(finding(r, "vip-as-source")).isEmpty();
    assertThat(finding(r, "missing-cluster-cidr")).isPresent();
  }

  // --- seed 001: the CLB IP 192.168.1.200 bound on kube-ipvs0 ------------------------------------

  static final String ADDR_001 =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.0.140\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"kube-ipvs0\",\"flags\":[\"BROADCAST\",\"NOARP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.1.200\",\"prefixlen\":32}]}]";

  static final String ROUTES_001 =
      """
      default via 10.0.0.1 dev eth0
      10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.140
      local 10.0.0.140 dev eth0 table local proto kernel scope host src 10.0.0.140
      local 192.168.1.200 dev kube-ipvs0 table local proto kernel scope host src 192.168.1.200
      """;

  static final String IPVS_001 =
      """
      -A -t 192.168.1.200:80 -s rr
      -a -t 192.168.1.200:80 -r 192.168.1.101:80 -m -w 1
      """;

  private static Map<String, String> seed001() {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", ADDR_001);
    f.put("ip-route.txt", ROUTES_001);
    f.put("ipvsadm-save.txt", IPVS_001);
    return f;
  }

  @Test
  void seed001AsTheAuthorSawIt_addressAndIpvsOnly_namesLbIpBoundLocally() throws Exception {
    // The author knew 192.168.1.200 as CLB1's IP, which SVC1 (type LoadBalancer) reuses: the
    // Service says so. An address on kube-ipvs0 alone could as well be a ClusterIP
    // (SeedsAsPostedTest#seed000_withoutTheKubectlBlock_vipIsNotCalledALoadBalancerIp).
    Path m = tmp.resolve("svc1.yaml");
    Files.writeString(
        m,
        "apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: svc1}\nspec:\n"
            + "  type: LoadBalancer\n  clusterIP: 172.21.0.10\n"
            + "  ports: [{port: 80, protocol: TCP, nodePort: 30080}]\n"
            + "status:\n  loadBalancer:\n    ingress: [{ip: 192.168.1.200}]\n");
    DoctorReport r = Doctor.standard().examine(DoctorInputs.files(seed001(), Optional.of(m)));

    Finding lb = finding(r, "lb-ip-bound-locally").orElseThrow();
    assertThat(lb.severity()).isEqualTo(Severity.WARNING);
    assertThat(lb.summary())
        .contains("192.168.1.200 is bound on kube-ipvs0")
        .contains("TCP 192.168.1.200:80")
        .contains("port 443 is delivered to the node's own stack");
    assertThat(lb.evidence())
        .extracting(Evidence::toString)
        .contains(
            "ip-addr.json: kube-ipvs0: inet 192.168.1.200/32",
            "ipvsadm-save.txt:1: -A -t 192.168.1.200:80 -s rr");
    assertThat(lb.summary()).contains("LoadBalancer IP 192.168.1.200");
    assertThat(r.findings()).extracting(Finding::id).doesNotContain("vip-as-source");
  }

  @Test
  void seed001WithIpsetsAndIpvsFilter_port443RejectedByTheFilterRule() throws Exception {
    Map<String, String> f = seed001();
    f.put(
        "ipset-save.txt",
        """
        create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536
        add KUBE-LOAD-BALANCER 192.168.1.200,tcp:80
        create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536
        add KUBE-IPVS-IPS 192.168.1.200
        create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
        """);
    f.put(
        "iptables-save.txt",
        """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :KUBE-IPVS-FILTER - [0:0]
        -A INPUT -j KUBE-IPVS-FILTER
        -A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN
        -A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT
        COMMIT
        """);
    Path dir = tmp.resolve("b");
    Files.createDirectories(dir);
    for (var e : f.entrySet()) {
      Files.writeString(dir.resolve(e.getKey()), e.getValue());
    }

    DoctorReport r = Doctor.standard().examine(DoctorInputs.bundle(dir, Optional.empty()));

    Finding lb = finding(r, "lb-ip-bound-locally").orElseThrow();
    assertThat(lb.summary())
        .startsWith("The LoadBalancer IP 192.168.1.200")
        .contains("port 443 is rejected by filter KUBE-IPVS-FILTER rule 2 on this node");
    assertThat(lb.evidence())
        .extracting(Evidence::toString)
        .contains("ipset-save.txt:2: add KUBE-LOAD-BALANCER 192.168.1.200,tcp:80");
    assertThat(r.assumptions()).noneMatch(a -> a.contains("taken for"));
  }

  @Test
  void clusterIpOnKubeIpvs0_isNoLoadBalancer() {
    Map<String, String> f = seed000(working(POD_CIDR_RULE));

    assertThat(finding(examine(f), "lb-ip-bound-locally")).isEmpty();
  }

  // --- externalip-is-node-ip ---------------------------------------------------------------------

  @Test
  void nodeIpOnKubeIpvs0_namesExternalIpIsNodeIp() {
    Map<String, String> f = seed001();
    f.put(
        "ip-addr.json",
        ADDR_001.replace(
            "\"local\":\"192.168.1.200\",\"prefixlen\":32}",
            "\"local\":\"192.168.1.200\",\"prefixlen\":32},{\"family\":\"inet\",\"local\":\"10.0.0.140\",\"prefixlen\":32}"));
    f.put(
        "ipvsadm-save.txt",
        IPVS_001 + "-A -t 10.0.0.140:22 -s rr\n-a -t 10.0.0.140:22 -r 192.168.1.101:22 -m -w 1\n");
    f.put(
        "ipset-save.txt",
        "create KUBE-EXTERNAL-IP hash:ip,port family inet hashsize 1024 maxelem 65536\nadd KUBE-EXTERNAL-IP 10.0.0.140,tcp:22\n"
            + "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536\n");

    DoctorReport r = examine(f);

    Finding e = finding(r, "externalip-is-node-ip").orElseThrow();
    assertThat(e.summary()).contains("10.0.0.140").contains("TCP 10.0.0.140:22");
    assertThat(e.evidence())
        .extracting(Evidence::toString)
        .contains(
            "ip-addr.json: kube-ipvs0: inet 10.0.0.140/32",
            "ip-addr.json: eth0: inet 10.0.0.140/24",
            "ipset-save.txt:2: add KUBE-EXTERNAL-IP 10.0.0.140,tcp:22",
            "ipvsadm-save.txt:3: -A -t 10.0.0.140:22 -s rr");
    // The node address is not taken for a load balancer nor for a VIP source.
    assertThat(r.findings())
        .extracting(Finding::id)
        .filteredOn(id -> !id.equals("externalip-is-node-ip"))
        .allMatch(id -> id.equals("lb-ip-bound-locally"));
    assertThat(r.findings().stream().filter(x -> x.id().equals("lb-ip-bound-locally")))
        .allMatch(x -> !x.summary().contains("10.0.0.140"));
  }

  // --- missing-cluster-cidr, iptables mode ------------------------------------------------------

  static String iptablesNat(String svcChainRules) {
    return """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :KUBE-MARK-MASQ - [0:0]
        :KUBE-SERVICES - [0:0]
        :KUBE-SVC-ABCDEFGHIJKLMNOP - [0:0]
        :KUBE-SEP-ABCDEFGHIJKLMNOP - [0:0]
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
        -A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-ABCDEFGHIJKLMNOP
        SVC
        -A KUBE-SVC-ABCDEFGHIJKLMNOP -m comment --comment "default/web:http -> 10.244.1.5:8080" -j KUBE-SEP-ABCDEFGHIJKLMNOP
        -A KUBE-SEP-ABCDEFGHIJKLMNOP -s 10.244.1.5/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
        -A KUBE-SEP-ABCDEFGHIJKLMNOP -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.5:8080
        COMMIT
        """
        .replace("SVC\n", svcChainRules);
  }

  private static final String SVC_MASQ =
      "-A KUBE-SVC-ABCDEFGHIJKLMNOP ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment"
          + " --comment \"default/web:http cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n";

  @Test
  void iptablesMode_noClusterIpMasqueradeRule_namesMissingClusterCidr() {
    DoctorReport r = examine(Map.of("iptables-save.txt", iptablesNat("")));

    Finding f = finding(r, "missing-cluster-cidr").orElseThrow();
    assertThat(f.evidence())
        .extracting(Evidence::where)
        .containsExactly("iptables-save.txt:13", "iptables-save.txt:14");
  }

  @Test
  void iptablesMode_withPodCidrMasqueradeRule_noFinding() {
    assertThat(examine(Map.of("iptables-save.txt", iptablesNat(SVC_MASQ))).findings()).isEmpty();
  }

  @Test
  void iptablesMode_masqueradeRuleExemptsTheServiceCidr_named() {
    DoctorReport r =
        examine(
            Map.of(
                "iptables-save.txt",
                iptablesNat(SVC_MASQ.replace("10.244.0.0/16", "10.96.0.0/12"))));

    assertThat(finding(r, "missing-cluster-cidr").orElseThrow().summary()).contains("10.96.0.0/12");
  }

  @Test
  void iptablesMode_masqueradeAll_noFinding() {
    assertThat(
            examine(
                    Map.of(
                        "iptables-save.txt",
                        iptablesNat(SVC_MASQ.replace("! -s 10.244.0.0/16 ", ""))))
                .findings())
        .isEmpty();
  }

  // --- host-firewall-rejects-vip and etp-local-* -------------------------------------------------

  static final String ADDR_POD_NODE =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.0.140\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.244.1.1\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"kube-ipvs0\",\"flags\":[\"BROADCAST\",\"NOARP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.96.0.10\",\"prefixlen\":32},{\"family\":\"inet\",\"local\":\"192.168.1.200\",\"prefixlen\":32}]}]";

  static final String ROUTES_POD_NODE =
      """
      default via 10.0.0.1 dev eth0
      10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.140
      10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
      10.244.2.0/24 via 10.0.0.141 dev eth0
      local 10.0.0.140 dev eth0 table local proto kernel scope host src 10.0.0.140
      local 10.244.1.1 dev cni0 table local proto kernel scope host src 10.244.1.1
      local 10.96.0.10 dev kube-ipvs0 table local proto kernel scope host src 10.96.0.10
      local 192.168.1.200 dev kube-ipvs0 table local proto kernel scope host src 192.168.1.200
      """;

  /** Upstream's IPVS-mode nat table, masquerade-all for ClusterIPs, eTP=Local LB exempted. */
  static final String NAT_IPVS =
      """
      *nat
      :PREROUTING ACCEPT [0:0]
      :INPUT ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :POSTROUTING ACCEPT [0:0]
      :KUBE-SERVICES - [0:0]
      :KUBE-POSTROUTING - [0:0]
      :KUBE-MARK-MASQ - [0:0]
      :KUBE-LOAD-BALANCER - [0:0]
      -A PREROUTING -j KUBE-SERVICES
      -A OUTPUT -j KUBE-SERVICES
      -A POSTROUTING -j KUBE-POSTROUTING
      -A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
      -A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER
      -A KUBE-LOAD-BALANCER -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN
      -A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
      -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
      -A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
      COMMIT
      """;

  static String filter(String input) {
    return "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        + input
        + "COMMIT\n";
  }

  /** firewalld's INPUT as it ends: established, loopback, ssh, then a reject of everything else. */
  static final String FIREWALLD =
      "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
          + "-A INPUT -i lo -j ACCEPT\n"
          + "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
          + "-A INPUT -j REJECT --reject-with icmp-host-prohibited\n";

  private static Map<String, String> podNode(String ipvs, String lbLocal, String input) {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", ADDR_POD_NODE);
    f.put("ip-route.txt", ROUTES_POD_NODE);
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 1\n");
    f.put("iptables-save.txt", NAT_IPVS + filter(input));
    f.put(
        "ipset-save.txt",
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80\n"
            + "create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-LOAD-BALANCER 192.168.1.200,tcp:80\n"
            + "create KUBE-LOAD-BALANCER-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + lbLocal);
    f.put(
        "ipvsadm-save.txt",
        "-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.2.5:80 -m -w 1\n" + ipvs);
    return f;
  }

  private static final String LB_LOCAL = "add KUBE-LOAD-BALANCER-LOCAL 192.168.1.200,tcp:80\n";
  private static final String LB_REMOTE =
      "-A -t 192.168.1.200:80 -s rr\n-a -t 192.168.1.200:80 -r 10.244.2.5:80 -m -w 1\n";

  @Test
  void firewalldRejectInInput_podToClusterIp_namesHostFirewallRejectsVip() {
    DoctorReport r = examine(podNode(LB_REMOTE, "", FIREWALLD));

    Finding f = finding(r, "host-firewall-rejects-vip").orElseThrow();
    assertThat(f.summary()).contains("rejects").contains("TCP 10.96.0.10:80");
    // The reject is the filter table's 4th INPUT rule: line 27 of the file (19 lines of nat up to
    // its COMMIT, then *filter and three policies, then three rules before it).
    assertThat(f.evidence())
        .extracting(Evidence::toString)
        .contains(
            "iptables-save.txt:27: -A INPUT -j REJECT --reject-with icmp-host-prohibited",
            "ipvsadm-save.txt:1: -A -t 10.96.0.10:80 -s rr");
  }

  @Test
  void firewalldWithKubeClusterIpAccepted_noHostFirewallFinding() {
    DoctorReport r =
        examine(
            podNode(
                LB_REMOTE,
                "",
                "-A INPUT -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n"
                    + "-A INPUT -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT\n"
                    + FIREWALLD));

    assertThat(r.findings()).extracting(Finding::id).doesNotContain("host-firewall-rejects-vip");
  }

  @Test
  void etpLocalVirtualServerWithoutRealServers_namesEtpLocalEmptyVirtualServer() {
    DoctorReport r = examine(podNode("-A -t 192.168.1.200:80 -s rr\n", LB_LOCAL, ""));

    Finding f = finding(r, "etp-local-empty-virtual-server").orElseThrow();
    assertThat(f.summary()).contains("TCP 192.168.1.200:80");
    assertThat(f.evidence())
        .extracting(Evidence::toString)
        .contains(
            "ipvsadm-save.txt:3: -A -t 192.168.1.200:80 -s rr",
            "ipset-save.txt:6: add KUBE-LOAD-BALANCER-LOCAL 192.168.1.200,tcp:80");
    assertThat(r.findings())
        .extracting(Finding::id)
        .doesNotContain("etp-local-no-snat-remote-endpoints");
  }

  @Test
  void etpLocalRemoteEndpointsOnly_nodeToLbIp_namesNoSnatNotVipAsSource() {
    DoctorReport r = examine(podNode(LB_REMOTE, LB_LOCAL, ""));

    assertThat(r.findings())
        .extracting(Finding::id)
        .contains("etp-local-no-snat-remote-endpoints")
        .doesNotContain("vip-as-source", "etp-local-empty-virtual-server");
    Finding f = finding(r, "etp-local-no-snat-remote-endpoints").orElseThrow();
    assertThat(f.evidence())
        .anySatisfy(
            e ->
                assertThat(e.text())
                    .startsWith("from the node: leaves 192.168.1.200 -> 10.244.2.5:80")
                    .contains("not masqueraded"));
  }

  @Test
  void etpClusterLbIp_nodeToLbIpMasqueraded_noEtpFinding() {
    DoctorReport r = examine(podNode(LB_REMOTE, "", ""));

    assertThat(r.findings())
        .extracting(Finding::id)
        .doesNotContain(
            "etp-local-no-snat-remote-endpoints",
            "vip-as-source",
            "etp-local-empty-virtual-server");
  }

  // --- ipset-missing, localhost-nodeport-unsupported ---------------------------------------------

  @Test
  void virtualServersWithoutKubeProxysIpsets_namesIpsetMissing() {
    Map<String, String> f = seed000(working(""));
    f.put("ipset-save.txt", "");

    DoctorReport r = examine(f);

    Finding m = finding(r, "ipset-missing").orElseThrow();
    assertThat(m.summary()).contains("KUBE-CLUSTER-IP, KUBE-LOOP-BACK");
    assertThat(m.evidence())
        .extracting(Evidence::toString)
        .contains(
            "ipset-save.txt: no KUBE-CLUSTER-IP, KUBE-LOOP-BACK: no KUBE-* set at all",
            "ipvsadm-save.txt:1: -A -t 10.20.0.1:443 -s rr -p 10800");
    assertThat(r.findings()).extracting(Finding::id).contains("vip-as-source");
  }

  @Test
  void noIpsetSaveAtAll_noIpsetMissing() {
    Map<String, String> f = seed000(working(""));
    f.remove("ipset-save.txt");

    assertThat(finding(examine(f), "ipset-missing")).isEmpty();
  }

  private static final String NODE_PORT_VS =
      "-A -t 10.0.0.140:30080 -s rr\n-a -t 10.0.0.140:30080 -r 10.244.2.5:80 -m -w 1\n";

  @Test
  void nodePortVirtualServerOnNodeIp_namesLocalhostNodePortUnsupported() {
    Map<String, String> f = podNode(NODE_PORT_VS, "", "");
    f.put(
        "ipset-save.txt",
        f.get("ipset-save.txt")
            + "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\nadd KUBE-NODE-PORT-TCP 30080\n");

    DoctorReport r = examine(f);

    Finding l = finding(r, "localhost-nodeport-unsupported").orElseThrow();
    assertThat(l.severity()).isEqualTo(Severity.INFO);
    assertThat(l.summary()).contains("TCP 10.0.0.140:30080").contains("localhost:30080");
    assertThat(l.evidence())
        .extracting(Evidence::toString)
        .contains(
            "ipvsadm-save.txt:3: -A -t 10.0.0.140:30080 -s rr",
            "ipset-save.txt:7: add KUBE-NODE-PORT-TCP 30080");
  }

  @Test
  void nodePortAlsoOnLoopback_noLocalhostFinding() {
    DoctorReport r =
        examine(
            podNode(
                NODE_PORT_VS
                    + "-A -t 127.0.0.1:30080 -s rr\n-a -t 127.0.0.1:30080 -r 10.244.2.5:80 -m -w 1\n",
                "",
                ""));

    assertThat(finding(r, "localhost-nodeport-unsupported")).isEmpty();
  }

  @Test
  void catalogue_listsTheIpvsEntries() {
    assertThat(Catalogue.of(Checks.all()))
        .extracting(Catalogue.Entry::id)
        .contains(
            "missing-cluster-cidr",
            "vip-as-source",
            "lb-ip-bound-locally",
            "externalip-is-node-ip");
  }
}
