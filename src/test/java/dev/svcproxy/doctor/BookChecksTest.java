package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The CNI and Docker checks on hand-written bundles: the book's own numbers where it gives them,
 * edge cases the lab does not build, and the healthy variants that must stay silent. Expected line
 * numbers are counted by hand in the texts below.
 */
class BookChecksTest {

  /** A node's files, built up per test. */
  private static final class Node {
    final List<String> links = new ArrayList<>();
    final List<String> routes = new ArrayList<>();
    final Map<String, String> files = new HashMap<>();

    /** The kernel's local route for the loopback network, as `ip route show table local` has it. */
    Node loopback() {
      links.add(
          "{\"ifname\":\"lo\",\"flags\":[\"LOOPBACK\",\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]}");
      routes.add(
          "{\"type\":\"local\",\"dst\":\"127.0.0.0/8\",\"dev\":\"lo\",\"table\":\"local\",\"protocol\":\"kernel\",\"scope\":\"host\",\"prefsrc\":\"127.0.0.1\"}");
      return this;
    }

    Node link(String name, String master, String... cidrs) {
      StringBuilder a = new StringBuilder();
      for (String c : cidrs) {
        String[] p = c.split("/");
        if (a.length() > 0) {
          a.append(',');
        }
        a.append("{\"family\":\"inet\",\"local\":\"")
            .append(p[0])
            .append("\",\"prefixlen\":")
            .append(p[1])
            .append(",\"scope\":\"global\"}");
        String net = dev.svcproxy.model.Cidr.parseSloppy(c).toString();
        routes.add(
            "{\"dst\":\""
                + net
                + "\",\"dev\":\""
                + name
                + "\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\""
                + p[0]
                + "\"}");
        routes.add(
            "{\"type\":\"local\",\"dst\":\""
                + p[0]
                + "\",\"dev\":\""
                + name
                + "\",\"table\":\"local\",\"scope\":\"host\",\"prefsrc\":\""
                + p[0]
                + "\"}");
      }
      links.add(
          "{\"ifname\":\""
              + name
              + "\",\"flags\":[\"UP\"]"
              + (master == null ? "" : ",\"master\":\"" + master + "\"")
              + ",\"addr_info\":["
              + a
              + "]}");
      return this;
    }

    Node route(String dst, String via, String dev) {
      routes.add(
          "{\"dst\":\""
              + dst
              + "\""
              + (via == null ? ",\"scope\":\"link\"" : ",\"gateway\":\"" + via + "\"")
              + ",\"dev\":\""
              + dev
              + "\"}");
      return this;
    }

    Node file(String name, String text) {
      files.put(name, text);
      return this;
    }

    DoctorReport examine() {
      Map<String, String> f = new HashMap<>(files);
      f.put("ip-addr.json", "[" + String.join(",", links) + "]");
      f.put("ip-route.json", "[" + String.join(",", routes) + "]");
      f.putIfAbsent("sysctl.txt", "net.ipv4.ip_forward = 1\n");
      return Doctor.standard().examine(DoctorInputs.files(f, Optional.empty()));
    }

    List<Finding> findings(String id) {
      return examine().findings().stream().filter(x -> x.id().equals(id)).toList();
    }
  }

  /** A host-gw node as the lab builds it: eth0 on the LAN, cni0 with two pods, a route to node2. */
  private static Node hostGwNode() {
    return new Node()
        .link("eth0", null, "192.168.1.11/24")
        .link("cni0", null, "10.244.1.1/24")
        .link("veth1", "cni0")
        .link("veth2", "cni0")
        .route("default", "192.168.1.1", "eth0")
        .route("10.244.2.0/24", "192.168.1.12", "eth0")
        .file(
            "node.yaml",
            "nodeName: node1\npodCIDRs: [10.244.1.0/24]\nclusterCIDRs: [10.244.0.0/16]\n");
  }

  // --- forward-policy-drop ---

  private static final String DOCKER_FILTER =
      """
      *filter
      :INPUT ACCEPT [0:0]
      :FORWARD DROP [0:0]
      :OUTPUT ACCEPT [0:0]
      :DOCKER-USER - [0:0]
      -A FORWARD -j DOCKER-USER
      -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
      -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
      -A DOCKER-USER -j RETURN
      COMMIT
      """;

  @Test
  void forwardPolicyDrop_dockerPolicyNoAccept_errorCitingPolicyLineAndProbe() {
    Node n = hostGwNode().file("iptables-save.txt", DOCKER_FILTER);
    List<Finding> f = n.findings("forward-policy-drop");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
    // Line 3 of the text above is ":FORWARD DROP [0:0]".
    assertThat(f.get(0).evidence().get(0))
        .isEqualTo(new Evidence("iptables-save.txt:3", ":FORWARD DROP [0:0]"));
    assertThat(f.get(0).evidence().get(1))
        .isEqualTo(new Evidence("iptables-save.txt:6", "-A FORWARD -j DOCKER-USER"));
    // The probe into node2's pod network: the pod source is cni0's last host address.
    assertThat(f.get(0).evidence())
        .anyMatch(
            e ->
                e.where()
                        .equals(
                            "$ svcproxy trace --src 10.244.1.254 --dst 10.244.2.2:80 --proto tcp")
                    && e.text().contains("dropped by filter FORWARD policy DROP"));
    assertThat(f.get(0).fix()).contains("iptables -A FORWARD -s 10.244.0.0/16 -j ACCEPT");
  }

  @Test
  void forwardPolicyDrop_flannelAcceptsItsNetwork_noFinding() {
    String text =
        DOCKER_FILTER.replace(
            "-A DOCKER-USER -j RETURN\n",
            "-A DOCKER-USER -j RETURN\n-A FORWARD -s 10.244.0.0/16 -j ACCEPT\n");
    assertThat(hostGwNode().file("iptables-save.txt", text).findings("forward-policy-drop"))
        .isEmpty();
  }

  @Test
  void forwardPolicyDrop_onlyLegacyBackendDrops_namesLegacyFile() {
    Node n =
        hostGwNode()
            .file("iptables-save.txt", "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n")
            .file("iptables-legacy-save.txt", DOCKER_FILTER);
    List<Finding> f = n.findings("forward-policy-drop");
    assertThat(f).singleElement();
    assertThat(f.get(0).evidence().get(0).where()).isEqualTo("iptables-legacy-save.txt:3");
    assertThat(f.get(0).fix()).contains("iptables-legacy -A FORWARD");
  }

  @Test
  void forwardPolicyDrop_policyAccept_noFinding() {
    assertThat(
            hostGwNode()
                .file("iptables-save.txt", DOCKER_FILTER.replace("FORWARD DROP", "FORWARD ACCEPT"))
                .findings("forward-policy-drop"))
        .isEmpty();
  }

  // --- nodelocaldns ---

  /** kube-proxy's rule for kube-dns and node-cache's NOTRACK for the same address. */
  private static final String NODELOCAL =
      """
      *raw
      :PREROUTING ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      -A PREROUTING -d 10.96.0.10/32 -p udp -m udp --dport 53 -j NOTRACK
      -A PREROUTING -d 169.254.20.10/32 -p udp -m udp --dport 53 -j NOTRACK
      COMMIT
      *nat
      :PREROUTING ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :KUBE-SERVICES - [0:0]
      :KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]
      :KUBE-SEP-A - [0:0]
      -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
      -A KUBE-SVC-TCOU7JCQXEZGVUNU -j KUBE-SEP-A
      -A KUBE-SEP-A -p udp -m udp -j DNAT --to-destination 10.244.2.5:53
      COMMIT
      """;

  @Test
  void nodeLocalDns_leftoverRuleNoAddress_errorCitingRule() {
    List<Finding> f =
        hostGwNode().file("iptables-save.txt", NODELOCAL).findings("nodelocaldns-leftover-notrack");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
    assertThat(f.get(0).evidence().get(0))
        .isEqualTo(
            new Evidence(
                "iptables-save.txt:4",
                "-A PREROUTING -d 10.96.0.10/32 -p udp -m udp --dport 53 -j NOTRACK"));
    assertThat(f.get(0).summary()).contains("10.96.0.10:53/udp").contains("kube-dns");
    // 169.254.20.10 is no Service's: its rule alone is nothing to report.
    assertThat(f.get(0).summary()).doesNotContain("169.254.20.10");
  }

  @Test
  void nodeLocalDns_addressOnDummy_isInfoNotError() {
    Node n =
        hostGwNode()
            .link("nodelocaldns", null, "169.254.20.10/32", "10.96.0.10/32")
            .file("iptables-save.txt", NODELOCAL);
    assertThat(n.findings("nodelocaldns-leftover-notrack")).isEmpty();
    List<Finding> info = n.findings("nodelocaldns-notrack");
    assertThat(info).singleElement();
    assertThat(info.get(0).severity()).isEqualTo(Severity.INFO);
  }

  @Test
  void nodeLocalDns_noNotrack_noFinding() {
    String text = NODELOCAL.replaceAll("-A PREROUTING -d [^\\n]*NOTRACK\\n", "");
    DoctorReport r = hostGwNode().file("iptables-save.txt", text).examine();
    assertThat(r.findings())
        .extracting(Finding::id)
        .doesNotContain("nodelocaldns-notrack", "nodelocaldns-leftover-notrack");
  }

  // --- pod-cidr-overlaps-node-network (the book's case 05.01) ---

  private static final String CALICO_NAT =
      """
      *nat
      :POSTROUTING ACCEPT [0:0]
      :cali-POSTROUTING - [0:0]
      :cali-nat-outgoing - [0:0]
      -A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING
      -A cali-POSTROUTING -m comment --comment "cali:nYKhEzDlr11Jccal" -j cali-nat-outgoing
      -A cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully
      COMMIT
      """;

  private static Node calicoNode(String pool) {
    return new Node()
        .link("ens192", null, "192.168.21.12/24")
        .link("calia9589d79281", null)
        .route("default", "192.168.21.1", "ens192")
        .route("192.168.236.10", null, "calia9589d79281")
        .file("iptables-save.txt", CALICO_NAT)
        .file(
            "ipset-save.txt",
            "create cali40masq-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576\n"
                + "add cali40masq-ipam-pools "
                + pool
                + "\ncreate cali40all-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576\n"
                + "add cali40all-ipam-pools "
                + pool
                + "\n");
  }

  @Test
  void podCidrOverlap_bookCalicoPool_errorWithUnmasqueradedTrace() {
    List<Finding> f = calicoNode("192.168.0.0/16").findings("pod-cidr-overlaps-node-network");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
    assertThat(f.get(0).summary()).contains("192.168.0.0/16").contains("192.168.21.0/24");
    assertThat(f.get(0).evidence())
        .contains(new Evidence("ipset-save.txt:4", "add cali40all-ipam-pools 192.168.0.0/16"))
        .anyMatch(e -> e.where().equals("iptables-save.txt:7"))
        .anyMatch(
            e ->
                e.text()
                    .equals(
                        "pod 192.168.236.10 to 192.168.21.1:443 leaves ens192 with source"
                            + " 192.168.236.10, not masqueraded"));
  }

  @Test
  void podCidrOverlap_podTrafficMasqueradedAnyway_warningNotError() {
    // Something masquerades every pod packet before Calico decides (an ip-masq-agent-like rule):
    // the ranges still overlap, but no traced packet leaves with the pod's address.
    String nat =
        CALICO_NAT.replace(
            "-A POSTROUTING -m comment --comment \"cali:O3lYWMrLQYEMJtB5\" -j cali-POSTROUTING\n",
            "-A POSTROUTING -s 192.168.236.0/24 -j MASQUERADE\n"
                + "-A POSTROUTING -m comment --comment \"cali:O3lYWMrLQYEMJtB5\" -j cali-POSTROUTING\n");
    List<Finding> f =
        calicoNode("192.168.0.0/16")
            .file("iptables-save.txt", nat)
            .findings("pod-cidr-overlaps-node-network");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.WARNING);
  }

  @Test
  void podCidrOverlap_poolOffTheHostNetwork_noFinding() {
    Node n =
        new Node()
            .link("ens192", null, "192.168.21.12/24")
            .link("calia9589d79281", null)
            .route("default", "192.168.21.1", "ens192")
            .route("10.200.0.10", null, "calia9589d79281")
            .file("iptables-save.txt", CALICO_NAT)
            .file(
                "ipset-save.txt",
                "create cali40all-ipam-pools hash:net\nadd cali40all-ipam-pools 10.200.0.0/16\n");
    assertThat(n.findings("pod-cidr-overlaps-node-network")).isEmpty();
  }

  @Test
  void podCidrOverlap_clusterCidrCoversLanNoPodFound_warningOnly() {
    Node n =
        new Node()
            .link("eth0", null, "10.10.3.4/24")
            .route("default", "10.10.3.1", "eth0")
            .file("node.yaml", "clusterCIDRs: [10.0.0.0/8]\n");
    List<Finding> f = n.findings("pod-cidr-overlaps-node-network");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.WARNING);
    assertThat(f.get(0).evidence().get(0))
        .isEqualTo(new Evidence("node.yaml:1", "clusterCIDRs: [10.0.0.0/8]"));
  }

  // --- cni-config-wrong-subnet (the book's case 05.02) ---

  private static Node podmanNode() {
    return new Node()
        .link("eth0", null, "10.20.1.7/24")
        .link("cni0", null, "10.187.4.1/24")
        .link("veth1", "cni0")
        .link("cni-podman0", null, "10.88.0.1/16")
        .link("veth9", "cni-podman0")
        .route("default", "10.20.1.1", "eth0")
        .file("node.yaml", "podCIDRs: [10.187.4.0/24]\nclusterCIDRs: [10.187.0.0/16]\n");
  }

  @Test
  void cniConfigWrongSubnet_podmanBridge_errorNamingBridgeAndRanges() {
    List<Finding> f = podmanNode().findings("cni-config-wrong-subnet");
    assertThat(f).singleElement();
    assertThat(f.get(0).summary())
        .contains("cni-podman0")
        .contains("10.88.0.0/16")
        .contains("10.187.0.0/16");
    assertThat(f.get(0).evidence())
        .contains(
            new Evidence("ip-addr.json", "cni-podman0: inet 10.88.0.1/16"),
            new Evidence("node.yaml:2", "clusterCIDRs: [10.187.0.0/16]"),
            new Evidence("node.yaml:1", "podCIDRs: [10.187.4.0/24]"));
  }

  @Test
  void cniConfigWrongSubnet_bridgeWithoutPortsOrDocker0_noFinding() {
    Node n =
        new Node()
            .link("eth0", null, "10.20.1.7/24")
            .link("cni0", null, "10.187.4.1/24")
            .link("veth1", "cni0")
            .link("cni-podman0", null, "10.88.0.1/16")
            .link("docker0", null, "172.17.0.1/16")
            .link("vethd", "docker0")
            .route("default", "10.20.1.1", "eth0")
            .file("node.yaml", "clusterCIDRs: [10.187.0.0/16]\n");
    assertThat(n.findings("cni-config-wrong-subnet")).isEmpty();
  }

  @Test
  void cniConfigWrongSubnet_podNetworkUnknown_assumedNotChecked() {
    DoctorReport r =
        new Node()
            .link("eth0", null, "10.20.1.7/24")
            .link("cni-podman0", null, "10.88.0.1/16")
            .link("veth9", "cni-podman0")
            .route("default", "10.20.1.1", "eth0")
            .examine();
    assertThat(r.findings()).extracting(Finding::id).doesNotContain("cni-config-wrong-subnet");
    assertThat(r.assumptions()).anyMatch(a -> a.contains("pod network is unknown"));
  }

  // --- docker-masquerade-covers-pods ---

  @Test
  void dockerMasquerade_bipInPodNetwork_warningWithSnatedProbe() {
    Node n =
        hostGwNode()
            .link("docker0", null, "10.244.0.1/16")
            .file(
                "iptables-save.txt",
                "*nat\n:POSTROUTING ACCEPT [0:0]\n"
                    + "-A POSTROUTING -s 10.244.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n");
    List<Finding> f = n.findings("docker-masquerade-covers-pods");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.WARNING);
    assertThat(f.get(0).evidence().get(0))
        .isEqualTo(
            new Evidence(
                "iptables-save.txt:3",
                "-A POSTROUTING -s 10.244.0.0/16 ! -o docker0 -j MASQUERADE"));
    assertThat(f.get(0).evidence())
        .anyMatch(e -> e.text().contains("leaves eth0 from 192.168.1.11"));
  }

  @Test
  void dockerMasquerade_defaultBip_noFinding() {
    Node n =
        hostGwNode()
            .link("docker0", null, "172.17.0.1/16")
            .file(
                "iptables-save.txt",
                "*nat\n:POSTROUTING ACCEPT [0:0]\n"
                    + "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n");
    assertThat(n.findings("docker-masquerade-covers-pods")).isEmpty();
  }

  // --- docker-localhost-port-via-proxy ---

  private static final String DOCKER_P =
      """
      *nat
      :PREROUTING ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :DOCKER - [0:0]
      -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
      -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
      -A DOCKER -i docker0 -j RETURN
      -A DOCKER ! -i docker0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.17.0.3:80
      COMMIT
      """;

  @Test
  void dockerLocalhostPort_bookPublishedPort_infoCitingDnatAndOutputJump() {
    Node n =
        hostGwNode()
            .loopback()
            .link("docker0", null, "172.17.0.1/16")
            .file("iptables-save.txt", DOCKER_P);
    List<Finding> f = n.findings("docker-localhost-port-via-proxy");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.INFO);
    assertThat(f.get(0).evidence().subList(0, 2))
        .containsExactly(
            new Evidence(
                "iptables-save.txt:8",
                "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.17.0.3:80"),
            new Evidence(
                "iptables-save.txt:6",
                "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"));
    assertThat(f.get(0).evidence())
        .anyMatch(e -> e.text().equals("from this node to 192.168.1.11:80: DNAT to 172.17.0.3:80"));
  }

  @Test
  void dockerLocalhostPort_outputJumpCoversLoopback_noFinding() {
    // userland-proxy false: Docker's OUTPUT jump has no 127.0.0.0/8 exception, localhost is DNATed.
    String text =
        DOCKER_P.replace("-A OUTPUT ! -d 127.0.0.0/8 -m addrtype", "-A OUTPUT -m addrtype");
    Node n =
        hostGwNode()
            .loopback()
            .link("docker0", null, "172.17.0.1/16")
            .file("iptables-save.txt", text)
            .file("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.route_localnet = 1\n");
    assertThat(n.findings("docker-localhost-port-via-proxy")).isEmpty();
  }
}
