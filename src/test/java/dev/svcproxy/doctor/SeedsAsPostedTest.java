package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.PacketSpec;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The seed cases named from what their authors posted, pasted as a user would paste them into an
 * issue ({@code doctor --paste}): the seed's own blocks, in its order, nothing added. The expected
 * ids are design §5's; why each is right is reasoned from the posted lines in each test.
 */
class SeedsAsPostedTest {
  private static DoctorReport paste(String... texts) {
    return Doctor.standard().examine(input(texts));
  }

  private static DoctorInput input(String... texts) {
    List<PastedInput.Source> s = new java.util.ArrayList<>();
    for (int i = 0; i < texts.length; i++) {
      s.add(new PastedInput.Source("issue" + (i + 1) + ".txt", texts[i]));
    }
    return DoctorInputs.paste(s, Optional.empty());
  }

  private static List<Finding> find(DoctorReport r, String id) {
    return r.findings().stream().filter(f -> f.id().equals(id)).toList();
  }

  // ---------------------------------------------------------------- seed 002

  /** Seed 002 lines 99-114 verbatim: worker2's nat rules for Case 1 (kube-proxy v1.21.0). */
  static final String SEED002_CASE1_NAT =
      """
      # worker2
      # NAT table - PREROUTING chain

      1. -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES

      2. -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS

      3. -A KUBE-NODEPORTS -p tcp -m comment --comment "default/my-nginx" -m tcp --dport 30294 -j KUBE-XLB-L65ENXXZWWSAPRCR

      4. -A KUBE-XLB-L65ENXXZWWSAPRCR -s 10.244.0.0/16 -m comment --comment "Redirect pods trying to reach external loadbalancer VIP to clusterIP" -j KUBE-SVC-L65ENXXZWWSAPRCR
      -A KUBE-XLB-L65ENXXZWWSAPRCR -m comment --comment "masquerade LOCAL traffic for default/my-nginx LB IP" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
      -A KUBE-XLB-L65ENXXZWWSAPRCR -m comment --comment "route LOCAL traffic for default/my-nginx LB IP to service chain" -m addrtype --src-type LOCAL -j KUBE-SVC-L65ENXXZWWSAPRCR

      5. -A KUBE-XLB-L65ENXXZWWSAPRCR -m comment --comment "default/my-nginx has no local endpoints" -j KUBE-MARK-DROP

      6. -A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000
      """;

  /** Seed 002 lines 132-137 verbatim: worker2's filter INPUT for Case 1. */
  static final String SEED002_CASE1_FILTER =
      """
      # worker2
      # FILTER table - INPUT chain

      6. -A INPUT -j KUBE-FIREWALL

      7. -A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP
      """;

  @Test
  void seed002_case1RulesAsPosted_namesEtpLocalNoLocalEndpointsForTheNodePort() {
    // kube-proxy 1.21's layout: KUBE-NODEPORTS sends NodePort 30294/tcp to KUBE-XLB-L65..., whose
    // last rule, with no condition, jumps to KUBE-MARK-DROP (sets 0x8000); filter KUBE-FIREWALL
    // drops packets carrying 0x8000. Only pod sources (-s 10.244.0.0/16) and the node's own
    // (--src-type LOCAL) are let through before it, so an external client's packet to
    // worker2:30294 is dropped: eTP=Local with no local endpoint (design §5 S3). The rule comment
    // only names the Service ("default/my-nginx").
    DoctorReport r = paste(SEED002_CASE1_NAT, SEED002_CASE1_FILTER);
    List<Finding> f = find(r, "etp-local-no-local-endpoints");
    assertThat(f).hasSize(1);
    assertThat(f.get(0).summary()).contains("default/my-nginx").contains("NodePort 30294/tcp");
    // The evidence is the path: the XLB drop rule, the NodePort jump into it, the mark and the
    // filter rule that drops the mark, each cited from the paste.
    assertThat(f.get(0).evidence())
        .extracting(Evidence::text)
        .anyMatch(t -> t.contains("KUBE-XLB-L65ENXXZWWSAPRCR") && t.endsWith("-j KUBE-MARK-DROP"))
        .anyMatch(t -> t.contains("--dport 30294 -j KUBE-XLB-L65ENXXZWWSAPRCR"))
        .anyMatch(t -> t.contains("-A KUBE-FIREWALL") && t.contains("0x8000/0x8000 -j DROP"));
    assertThat(f.get(0).evidence()).allMatch(e -> e.where().startsWith("issue"));
    assertThat(find(r, "no-endpoints")).isEmpty();
  }

  @Test
  void seed002_case1WithExternalClientPacket_dropIsExplainedNotGeneric() {
    // The author's Case 1 packet: a host other than worker2 → worker2 (172.20.20.16):30294. It is
    // marked in nat PREROUTING and dropped by filter KUBE-FIREWALL at INPUT: the trace ends
    // DROPPED_BY_RULE there, which the eTP=Local finding explains, so packet-not-delivered (the
    // generic "it fails here") is not reported beside it.
    String addr =
        """
        $ ip addr show eth0
        2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
            inet 172.20.20.16/24 scope global eth0
        """;
    DoctorInput in =
        input(SEED002_CASE1_NAT, SEED002_CASE1_FILTER, addr)
            .withPacket(
                new PacketSpec("172.20.20.100", 40000, "172.20.20.16", 30294, "tcp", "eth0"));
    DoctorReport r = Doctor.standard().examine(in);
    assertThat(r.trace().outcomes()).noneMatch(o -> o.delivered());
    assertThat(find(r, "etp-local-no-local-endpoints")).hasSize(1);
    assertThat(find(r, "packet-not-delivered")).isEmpty();
  }

  // ---------------------------------------------------------------- seed 000

  /**
   * Seed 000 lines 5-7 verbatim: the author's `kubectl get service -o wide`, its column spacing
   * collapsed to single spaces by the article's page (the doctor reads the cells by their shapes).
   */
  static final String SEED000_KUBECTL =
      """
      $ kubectl get service -o wide
      NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR
      kubernetes ClusterIP 10.20.0.1 <none> 443/TCP 1y <none>
      """;

  /**
   * Seed 000 lines 36-38: `ip addr |grep 10.20.0.1`, with the indentation of the inet line that `ip
   * addr` prints (and grep keeps) restored; the article's page dropped it.
   */
  static final String SEED000_ADDR =
      """
      $ ip addr |grep 10.20.0.1
      784: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN
          inet 10.20.0.1/32 brd 10.20.0.1 scope global kube-ipvs0
      """;

  /** Seed 000 lines 40-43 verbatim: the IPVS rules (`ipvsadm -Sn` form), posted without prompt. */
  static final String SEED000_IPVS =
      """
      -A -t 10.20.0.1:443 -s rr -p 10800
      -a -t 10.20.0.1:443 -r 10.19.9.120:6443 -m -w 1
      -a -t 10.20.0.1:443 -r 10.19.14.106:6443 -m -w 1
      -a -t 10.20.0.1:443 -r 10.19.111.132:6443 -m -w 1
      """;

  /** Seed 000 lines 78-90 verbatim: the failing node's nat table, as posted (no COMMIT). */
  static final String SEED000_NAT =
      """
      *nat
      -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
      -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
      -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
      -A POSTROUTING -s 11.0.113.0/24 ! -o docker0 -j MASQUERADE
      -A DOCKER -i docker0 -j RETURN
      -A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000
      -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
      -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -m mark --mark 0x4000/0x4000 -j MASQUERADE
      -A KUBE-POSTROUTING -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
      -A KUBE-SERVICES -p tcp -m tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
      """;

  @Test
  void seed000_blocksAsPosted_namesMissingClusterCidrAndVipAsSource() {
    // IPVS mode (the virtual server 10.20.0.1:443 with three masq reals). kube-proxy's IPVS mode
    // writes "! -s <cluster CIDR> -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"
    // in nat KUBE-SERVICES when --cluster-cidr is set (the healthy node's line 74); the posted
    // *nat has only the NodePort-set rule there: missing-cluster-cidr, from the nat table alone.
    // The node's own connection to 10.20.0.1:443 takes the VIP as source (the kernel's local
    // route for an address on kube-ipvs0 has it as preferred source), IPVS DNATs it to a real
    // server off the node, and nothing in nat OUTPUT/POSTROUTING marks it: KUBE-POSTROUTING
    // masquerades only 0x4000, set only for NodePort-set destinations. The reply goes to the
    // VIP and never returns: vip-as-source (the author's tcpdump, lines 16-19 and 27-31).
    DoctorReport r = paste(SEED000_KUBECTL, SEED000_ADDR, SEED000_IPVS, SEED000_NAT);
    assertThat(r.findings())
        .extracting(Finding::id)
        .contains("missing-cluster-cidr", "vip-as-source")
        .doesNotContain("lb-ip-bound-locally", "packet-not-delivered");
    Finding mcc = find(r, "missing-cluster-cidr").get(0);
    assertThat(mcc.evidence())
        .extracting(Evidence::text)
        .anyMatch(t -> t.contains("KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ"))
        .anyMatch(t -> t.contains("10.20.0.1:443"));
    // The single-spaced table is read: 10.20.0.1 is the kubernetes Service's ClusterIP, so the
    // doctor need not say it could not tell a ClusterIP from a load-balancer IP.
    assertThat(r.warnings()).noneMatch(w -> w.contains("row skipped"));
    assertThat(r.assumptions()).noneMatch(a -> a.contains("is a ClusterIP or a load-balancer"));
    // No ipset-save, no COMMIT, no routes were posted: each is said, not silently assumed.
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("ClusterIPs taken from the IPVS virtual servers"))
        .anyMatch(a -> a.contains("without COMMIT"));
  }

  @Test
  void seed000_withoutTheKubectlBlock_vipIsNotCalledALoadBalancerIp() {
    // Without the Service list, 10.20.0.1 on kube-ipvs0 could be a ClusterIP (every Service has
    // one; here it is the API server's) as well as an LB or external IP: lb-ip-bound-locally
    // (seed 001's fault) is not claimed, and the doctor says it could not tell. The VIP-sourced
    // connection is still named, as it is wrong whatever kind of VIP it is.
    DoctorReport r = paste(SEED000_ADDR, SEED000_IPVS, SEED000_NAT);
    assertThat(r.findings())
        .extracting(Finding::id)
        .contains("missing-cluster-cidr", "vip-as-source")
        .doesNotContain("lb-ip-bound-locally");
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("10.20.0.1 on kube-ipvs0 is a ClusterIP or a load-balancer"));
  }
}
