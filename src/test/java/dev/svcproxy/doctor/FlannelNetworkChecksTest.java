package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * flannel's Network as a pod range of pod-cidr-overlaps-node-network, on hand-written bundles: from
 * flannel-subnet.env, from flanneld's masquerade rule (v0.15+ in FLANNEL-POSTRTG, older ones in
 * POSTROUTING with its comment) and from FLANNEL-FWD. The node: ens192 192.168.21.12/24 (the book's
 * LAN), cni0 with flannel's subnet 192.168.236.1/24. Line numbers counted by hand.
 */
class FlannelNetworkChecksTest {
  private static final String ID = "pod-cidr-overlaps-node-network";

  private static final String ADDR =
      "[{\"ifname\":\"ens192\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\","
          + "\"local\":\"192.168.21.12\",\"prefixlen\":24,\"scope\":\"global\"}]},"
          + "{\"ifname\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\","
          + "\"local\":\"192.168.236.1\",\"prefixlen\":24,\"scope\":\"global\"}]}]";
  private static final String ROUTES =
      "[{\"dst\":\"default\",\"gateway\":\"192.168.21.1\",\"dev\":\"ens192\"},"
          + "{\"dst\":\"192.168.21.0/24\",\"dev\":\"ens192\",\"scope\":\"link\","
          + "\"prefsrc\":\"192.168.21.12\"},"
          + "{\"dst\":\"192.168.236.0/24\",\"dev\":\"cni0\",\"scope\":\"link\","
          + "\"prefsrc\":\"192.168.236.1\"},"
          + "{\"type\":\"local\",\"dst\":\"192.168.21.12\",\"dev\":\"ens192\",\"table\":\"local\","
          + "\"scope\":\"host\"},"
          + "{\"type\":\"local\",\"dst\":\"192.168.236.1\",\"dev\":\"cni0\",\"table\":\"local\","
          + "\"scope\":\"host\"}]";

  private static List<Finding> findings(Map<String, String> extra) {
    Map<String, String> f = new HashMap<>(extra);
    f.put("ip-addr.json", ADDR);
    f.put("ip-route.json", ROUTES);
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\n");
    return Doctor.standard().examine(DoctorInputs.files(f, Optional.empty())).findings().stream()
        .filter(x -> x.id().equals(ID))
        .toList();
  }

  private static final String ENV =
      "FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_SUBNET=192.168.236.1/24\nFLANNEL_MTU=1450\n"
          + "FLANNEL_IPMASQ=false\n";

  @Test
  void subnetEnvOnly_networkOverLan_errorCitingTheEnvLine() {
    // ipMasq false: flanneld writes no masquerade rules, only subnet.env tells its network.
    List<Finding> f = findings(Map.of("flannel-subnet.env", "# flanneld\n" + ENV));
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
    assertThat(f.get(0).summary())
        .startsWith("The pod network 192.168.0.0/16 overlaps the node network 192.168.21.0/24");
    assertThat(f.get(0).evidence().get(0))
        .isEqualTo(new Evidence("flannel-subnet.env:2", "FLANNEL_NETWORK=192.168.0.0/16"));
  }

  @Test
  void subnetEnv_networkOffTheLan_noFinding() {
    assertThat(
            findings(
                Map.of(
                    "flannel-subnet.env",
                    ENV.replace("192.168.0.0/16", "10.244.0.0/16")
                        .replace("192.168.236.1/24", "10.244.1.1/24"))))
        .isEmpty();
  }

  @Test
  void oldFlannelRulesInPostrouting_masqueradeRuleGivesTheNetwork() {
    String nat =
        """
        *nat
        :POSTROUTING ACCEPT [0:0]
        -A POSTROUTING -s 192.168.0.0/16 -d 192.168.0.0/16 -m comment --comment "flanneld masq" -j RETURN
        -A POSTROUTING -s 192.168.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
        -A POSTROUTING ! -s 192.168.0.0/16 -d 192.168.236.0/24 -m comment --comment "flanneld masq" -j RETURN
        COMMIT
        """;
    List<Finding> f = findings(Map.of("iptables-save.txt", nat));
    assertThat(f).singleElement();
    assertThat(f.get(0).evidence().get(0).where()).isEqualTo("iptables-save.txt:4");
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
  }

  @Test
  void flannelFwdOnly_acceptRuleGivesTheNetwork() {
    String filter =
        """
        *filter
        :FORWARD ACCEPT [0:0]
        :FLANNEL-FWD - [0:0]
        -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
        -A FLANNEL-FWD -s 192.168.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
        -A FLANNEL-FWD -d 192.168.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
        COMMIT
        """;
    List<Finding> f = findings(Map.of("iptables-save.txt", filter));
    assertThat(f).singleElement();
    assertThat(f.get(0).evidence().get(0).where()).isEqualTo("iptables-save.txt:5");
  }

  @Test
  void someoneElsesMasqueradeRule_notTakenForFlannels() {
    // The same shape without flanneld's chain or comment (an admin's own rule): not a pod range.
    String nat =
        """
        *nat
        :POSTROUTING ACCEPT [0:0]
        -A POSTROUTING -s 192.168.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE
        COMMIT
        """;
    assertThat(findings(Map.of("iptables-save.txt", nat))).isEmpty();
  }
}
