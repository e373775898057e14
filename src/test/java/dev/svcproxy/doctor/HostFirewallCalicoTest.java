package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * host-firewall-rejects-vip with Calico host endpoint policy and with INPUT rules written by hand,
 * on IpvsCheckTest's IPVS pod node (eth0 10.0.0.140/24 with the default route, cni0 10.244.1.1/24,
 * kube-ipvs0 holding ClusterIP 10.96.0.10 and load-balancer IP 192.168.1.200, each with a virtual
 * server whose real server is 10.244.2.5:80 on another node). Calico's chains are felix's (see
 * {@link CalicoFelixRules}): a named host endpoint on eth0 whose only policy allows ssh, so traffic
 * that arrives on eth0 for the node is dropped by the endpoint's default deny; pods (on cni0, not a
 * host endpoint) are not policed by it.
 */
class HostFirewallCalicoTest {
  private static final String LB = "192.168.1.200";

  private static Map<String, String> node(String filterRules, String extraSets) {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", IpvsCheckTest.ADDR_POD_NODE);
    f.put("ip-route.txt", IpvsCheckTest.ROUTES_POD_NODE);
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 1\n");
    f.put("iptables-save.txt", IpvsCheckTest.NAT_IPVS + IpvsCheckTest.filter(filterRules));
    f.put(
        "ipset-save.txt",
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80\n"
            + "create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-LOAD-BALANCER "
            + LB
            + ",tcp:80\n"
            + extraSets);
    f.put(
        "ipvsadm-save.txt",
        "-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.2.5:80 -m -w 1\n"
            + "-A -t "
            + LB
            + ":80 -s rr\n-a -t "
            + LB
            + ":80 -r 10.244.2.5:80 -m -w 1\n");
    return f;
  }

  private static final String CALICO_SETS =
      CalicoFelixRules.ipsets(
          List.of("10.0.0.140", "10.0.0.141"), List.of("10.0.0.140", "10.244.1.1", "127.0.0.1"));

  private static Map<String, String> calico(CalicoFelixRules c) {
    return node(c.body(), CALICO_SETS);
  }

  private static DoctorReport examine(Map<String, String> files) {
    return Doctor.standard().examine(DoctorInputs.files(files, Optional.empty()));
  }

  private static List<Finding> find(DoctorReport r) {
    // A check that threw would make every "not named" below pass for nothing.
    assertThat(r.warnings()).noneMatch(w -> w.startsWith("check "));
    return r.findings().stream().filter(f -> f.id().equals("host-firewall-rejects-vip")).toList();
  }

  /** The 1-based line of the file that is exactly {@code line}. */
  private static int lineOf(Map<String, String> files, String file, String line) {
    List<String> lines = Arrays.asList(files.get(file).split("\n", -1));
    int i = lines.indexOf(line);
    assertThat(i).as("%s in %s", line, file).isNotNegative();
    return i + 1;
  }

  @Test
  void calicoHostEndpointDefaultDeny_lbIpFromOutside_namedAtTheEndpointsDropRule() {
    CalicoFelixRules c = CalicoFelixRules.of("eth0", false, List.of(CalicoFelixRules.ALLOW_SSH));
    Map<String, String> files = calico(c);
    DoctorReport r = examine(files);

    List<Finding> f = find(r);
    assertThat(f).hasSize(1);
    // A client on eth0's subnet (10.0.0.254) -> 192.168.1.200:80: local (kube-ipvs0), so INPUT;
    // INPUT rule 1 jumps to cali-INPUT; not IPIP, not from a cali+ workload, accept bit clear; the
    // marks cleared (rule 6) and cali-from-host-endpoint sends eth0 to cali-fh-eth0 (goto);
    // there: not established, not invalid, failsafe-in (port 80 is none of its ports) returns,
    // accept and pass bits cleared, the tier starts, allow-ssh (tcp 22) sets nothing, so the
    // "Return if policy accepted" rule does not match and rule 8, "Drop if no policies passed
    // packet" (pass bit clear), drops it.
    String drop = c.rule("cali-fh-eth0", "Drop if no policies passed packet");
    assertThat(c.ruleNumber("cali-fh-eth0", "Drop if no policies passed packet")).isEqualTo(8);
    assertThat(f.get(0).summary())
        .contains("(filter cali-fh-eth0 rule 8) drops")
        .contains("traffic from 10.0.0.254 on eth0 to TCP " + LB + ":80")
        // Pods (cni0) are no host endpoint: they reach both addresses.
        .doesNotContain("pod traffic")
        // The ClusterIP is for pods and the node; only external and LB IPs are traced from out.
        .doesNotContain("10.96.0.10");
    Evidence first = f.get(0).evidence().get(0);
    assertThat(first.toString())
        .isEqualTo("iptables-save.txt:" + lineOf(files, "iptables-save.txt", drop) + ": " + drop);
    // The jumps that led there are cited too, from INPUT's first rule on.
    String toCali = c.rule("INPUT", "-j cali-INPUT");
    assertThat(f.get(0).evidence())
        .extracting(Evidence::toString)
        .contains("iptables-save.txt:" + lineOf(files, "iptables-save.txt", toCali) + ": " + toCali)
        .anyMatch(
            e ->
                e.contains("from 10.0.0.254 on eth0: dropped in filter cali-fh-eth0 rule 8")
                    && e.contains(
                        "reached by INPUT rule 1 -> cali-INPUT rule 6 -> cali-from-host-endpoint"
                            + " rule 1 -> cali-fh-eth0 rule 8"));
    // The fix is Calico's: a policy for the Service addresses, or felix's IPVS support (this
    // felix has no cali-forward-check: it started before kube-ipvs0 existed).
    assertThat(f.get(0).fix())
        .contains("GlobalNetworkPolicy")
        .contains("restarting calico-node")
        .contains("ChainInsertMode");
  }

  @Test
  void calicoHostEndpointWithServicePolicy_notNamed() {
    // The fix: a policy allowing ingress to the service CIDR and the LB IP, before the deny.
    CalicoFelixRules c =
        CalicoFelixRules.of(
            "eth0",
            false,
            List.of(
                CalicoFelixRules.ALLOW_SSH,
                CalicoFelixRules.allowServices("10.96.0.0/12", LB + "/32")));
    DoctorReport r = examine(calico(c));
    assertThat(find(r)).isEmpty();
  }

  @Test
  void calicoHostEndpointPolicyForClusterIpsOnly_lbIpStillNamed() {
    // Half a fix: the service CIDR allowed, the LB IP not; the LB IP is still dropped.
    CalicoFelixRules c =
        CalicoFelixRules.of(
            "eth0",
            false,
            List.of(CalicoFelixRules.ALLOW_SSH, CalicoFelixRules.allowServices("10.96.0.0/12")));
    List<Finding> f = find(examine(calico(c)));
    assertThat(f).hasSize(1);
    // Two policies: the drop is now rule 10 (two more: the jump and its "Return if").
    assertThat(f.get(0).summary()).contains("(filter cali-fh-eth0 rule 10) drops");
  }

  @Test
  void calicoWithKubeProxyIpvsSupport_vipTrafficReturnedAsForwarded_notNamed() {
    // Felix that found kube-ipvs0 at start: cali-forward-check marks traffic to addresses not in
    // cali40this-host (the VIPs) with its endpoint's mark and cali-INPUT returns it; the host
    // endpoint's INPUT policy never sees it (felix polices it as forwarded traffic in OUTPUT).
    CalicoFelixRules c = CalicoFelixRules.of("eth0", true, List.of(CalicoFelixRules.ALLOW_SSH));
    DoctorReport r = examine(calico(c));
    assertThat(find(r)).isEmpty();
    // The same traffic to the node's own address (in cali40this-host) is still the host's, and
    // the endpoint's deny drops it: the layout does police host-bound traffic.
    assertThat(c.rule("cali-forward-check", "To kubernetes service")).contains("! --match-set");
  }

  @Test
  void customDropOfServiceCidr_podTrafficNamed_fixDeletesTheRule() {
    String rule = "-A INPUT -d 10.96.0.0/12 -j DROP";
    Map<String, String> files = node(rule + "\n", "");
    List<Finding> f = find(examine(files));
    assertThat(f).hasSize(1);
    assertThat(f.get(0).summary())
        .contains("(filter INPUT rule 1) drops")
        .contains("pod traffic to TCP 10.96.0.10:80");
    assertThat(f.get(0).evidence().get(0).toString())
        .isEqualTo("iptables-save.txt:" + lineOf(files, "iptables-save.txt", rule) + ": " + rule);
    assertThat(f.get(0).fix()).contains("iptables -D INPUT -d 10.96.0.0/12 -j DROP");
  }

  @Test
  void customRejectOfServiceCidr_namedRejects() {
    String rule = "-A INPUT -d 10.96.0.0/12 -p tcp -j REJECT --reject-with tcp-reset";
    List<Finding> f = find(examine(node(rule + "\n", "")));
    assertThat(f).hasSize(1);
    assertThat(f.get(0).summary()).contains("(filter INPUT rule 1) rejects");
  }

  @Test
  void firewallTrustingTheNodeSubnetOnly_lbIpFromTheInternetNamed() {
    // Pods and eth0's own subnet accepted, everything else on eth0 dropped: a client of the LB
    // from elsewhere (through the default route) is dropped.
    String rules =
        "-A INPUT -s 10.0.0.0/24 -j ACCEPT\n-A INPUT -s 10.244.0.0/16 -j ACCEPT\n"
            + "-A INPUT -i eth0 -j DROP\n";
    List<Finding> f = find(examine(node(rules, "")));
    assertThat(f).hasSize(1);
    assertThat(f.get(0).summary())
        .contains("(filter INPUT rule 3) drops")
        .contains("traffic from 203.0.113.10 on eth0 to TCP " + LB + ":80")
        .doesNotContain("pod traffic")
        .doesNotContain("10.0.0.254");
  }
}
