package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * hairpin-not-masqueraded with a promiscuous bridge (kubelet --hairpin-mode=promiscuous-bridge), on
 * a hand-written bundle: endpoint 10.244.1.7 behind veth2 on cni0, hairpin off. The kernel's answer
 * (HairpinPromiscuousBridgeLabTest: the hairpin still times out with cni0 promiscuous) is what the
 * doctor must say: the ports are named whether or not cni0 is promiscuous, and the fix does not
 * send the user to promiscuous-bridge mode.
 */
class HairpinPromiscuousBridgeChecksTest {
  private static String addr(String cni0Flags) {
    return "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
        + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.0.5\",\"prefixlen\":24}]},"
        + "{\"ifname\":\"cni0\",\"flags\":["
        + cni0Flags
        + "],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.244.1.1\",\"prefixlen\":24}]},"
        + "{\"ifname\":\"veth2\",\"flags\":[\"UP\"],\"master\":\"cni0\",\"addr_info\":[]}]";
  }

  private static List<Finding> hairpin(String cni0Flags) {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", addr(cni0Flags));
    f.put(
        "ip-route.json",
        "default via 10.0.0.1 dev eth0\n"
            + "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.5\n"
            + "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1\n");
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n");
    f.put("bridge-link.json", "[{\"ifname\":\"veth2\",\"master\":\"cni0\",\"hairpin\":false}]");
    f.put(
        "iptables-save.txt",
        "*mangle\n:KUBE-PROXY-CANARY - [0:0]\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n"
            + ":KUBE-PROXY-CANARY - [0:0]\n:KUBE-SEP-AAA - [0:0]\n"
            + "-A KUBE-SEP-AAA -s 10.244.1.7/32 -j KUBE-MARK-MASQ\n"
            + "-A KUBE-SEP-AAA -p tcp -m tcp -j DNAT --to-destination 10.244.1.7:8080\nCOMMIT\n"
            + "*filter\n:KUBE-PROXY-CANARY - [0:0]\nCOMMIT\n");
    return Doctor.standard().examine(DoctorInputs.files(f, Optional.empty())).findings().stream()
        .filter(x -> x.id().equals("hairpin-not-masqueraded"))
        .toList();
  }

  @Test
  void promiscuousBridge_portsHairpinOff_stillNamed_promiscuityShownNotRecommended() {
    Finding f = hairpin("\"BROADCAST\",\"MULTICAST\",\"PROMISC\",\"UP\"").get(0);
    assertThat(f.evidence())
        .containsExactly(
            new Evidence("bridge-link.json", "veth2 master cni0 hairpin off"),
            new Evidence("ip-addr.json", "cni0 promiscuous"));
    assertThat(f.explanation()).contains("cni0 is promiscuous");
    assertThat(f.fix()).doesNotContain("use promiscuous-bridge");
  }

  @Test
  void bridgeNotPromiscuous_namedWithoutThePromiscuityLine() {
    Finding f = hairpin("\"BROADCAST\",\"MULTICAST\",\"UP\"").get(0);
    assertThat(f.evidence())
        .containsExactly(new Evidence("bridge-link.json", "veth2 master cni0 hairpin off"));
    assertThat(f.explanation()).doesNotContain("promiscuous");
  }
}
