package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.model.TrafficPolicy;
import dev.svcproxy.netfilter.UnsafeTextException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The last line of defence: a ProxyState that slipped past the source's validation with a control
 * character in any string the renderer writes makes the render throw; no restore text comes out.
 */
class InjectionRenderTest {

  /** Every string the renderer reads, by where it sits in the input. */
  enum Field {
    NAMESPACE,
    SERVICE_NAME,
    PORT_NAME,
    CLUSTER_IP,
    EXTERNAL_IP,
    LOAD_BALANCER_IP,
    LOAD_BALANCER_SOURCE_RANGE,
    ENDPOINT_IP,
    DETECT_LOCAL_CIDR,
    DETECT_LOCAL_INTERFACE_PREFIX,
    // Read to choose endpoints and NodePort addresses, never written: a bad value changes which
    // rules exist (as any other unknown name or address would), not their text.
    NODE_IP_FOR_NODEPORT_ADDRESSES,
    ENDPOINT_NODE_NAME,
    ENDPOINT_ZONE,
    CONFIG_NODE_NAME,
    CONFIG_ZONE;

    boolean written() {
      return ordinal() < NODE_IP_FOR_NODEPORT_ADDRESSES.ordinal();
    }
  }

  private record Input(ProxyState state, IptablesRenderer renderer) {}

  private static Input input(Field f, char c) {
    String bad = String.valueOf(c);
    String ns = f == Field.NAMESPACE ? "ns" + bad + "1" : "ns1";
    String name = f == Field.SERVICE_NAME ? "svc" + bad + "-A INPUT -j ACCEPT" : "svc1";
    String port = f == Field.PORT_NAME ? "p" + bad + "80" : "p80";
    String clusterIp = f == Field.CLUSTER_IP ? "172.30.0.41" + bad : "172.30.0.41";
    String extIp = f == Field.EXTERNAL_IP ? "192.168.99.11" + bad : "192.168.99.11";
    String lbIp = f == Field.LOAD_BALANCER_IP ? "1.2.3.4" + bad : "1.2.3.4";
    String range =
        f == Field.LOAD_BALANCER_SOURCE_RANGE ? "203.0.113.0/25" + bad : "203.0.113.0/25";
    String epIp = f == Field.ENDPOINT_IP ? "10.180.0.1" + bad : "10.180.0.1";
    String epNode = f == Field.ENDPOINT_NODE_NAME ? "node1" + bad : "node1";
    String epZone = f == Field.ENDPOINT_ZONE ? "z" + bad : "z";
    ServicePortName spn = new ServicePortName(ns, name, port, Protocol.TCP);
    ServicePortInfo svc =
        new ServicePortInfo(
            spn,
            clusterIp,
            80,
            30001,
            List.of(extIp),
            List.of(lbIp),
            List.of(range),
            0,
            true,
            10800,
            TrafficPolicy.CLUSTER,
            TrafficPolicy.CLUSTER);
    List<Endpoint> eps =
        List.of(
            new Endpoint(epIp, 80, true, true, false, epNode, epZone, Set.of(), Set.of()),
            Endpoint.ready("10.180.1.1", 80, "node2"));
    ProxyState state = new ProxyState(new TreeMap<>(Map.of(spn, svc)), Map.of(spn, eps));

    LocalTrafficDetector detector =
        switch (f) {
          case DETECT_LOCAL_CIDR ->
              new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.0.0.0/8" + bad);
          case DETECT_LOCAL_INTERFACE_PREFIX ->
              new LocalTrafficDetector(
                  LocalTrafficDetector.Mode.INTERFACE_NAME_PREFIX, "veth" + bad);
          default -> new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.0.0.0/8");
        };
    String nodeName = f == Field.CONFIG_NODE_NAME ? "node1" + bad : "node1";
    String zone = f == Field.CONFIG_ZONE ? "z" + bad : "z";
    List<Cidr> nodePortAddresses =
        f == Field.NODE_IP_FOR_NODEPORT_ADDRESSES ? List.of(Cidr.parse("0.0.0.0/0")) : List.of();
    List<String> nodeIps =
        f == Field.NODE_IP_FOR_NODEPORT_ADDRESSES ? List.of("192.168.0.2" + bad) : List.of();
    // No node IP: the renderer would otherwise parse the source ranges itself before writing
    // them, and this test is about what reaches the printer.
    ProxyConfig cfg =
        new ProxyConfig(nodeName, null, nodeIps, zone, detector, 14, false, nodePortAddresses);
    KernelCapabilities caps = KernelCapabilities.none().withRandomFully(true);
    return new Input(state, new IptablesRenderer(cfg, IptablesOptions.defaults(), caps));
  }

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (Field f : Field.values()) {
      for (char c : dev.svcproxy.netfilter.InjectionPrinterTestAccess.controls()) {
        out.add(Arguments.of(f, String.format("U+%04X", (int) c), c));
      }
    }
    return out.stream();
  }

  @ParameterizedTest(name = "{0} with {1}")
  @MethodSource("cases")
  void render_controlCharacterInAnInputString_throwsOrNeverWritesIt(Field f, String code, char c) {
    Input in = input(f, c);
    IptablesRenderer r = in.renderer();
    if (f.written()) {
      assertThatThrownBy(() -> r.render(in.state()).text())
          .isInstanceOf(UnsafeTextException.class)
          .hasMessageContaining(code);
      assertThatThrownBy(() -> r.render(in.state()))
          .as("the render itself, before anything asks for text")
          .isInstanceOf(UnsafeTextException.class);
    } else {
      // The same text as with an ordinary unknown character in its place.
      Input plain = input(f, 'Q');
      assertThat(r.render(in.state()).text())
          .isEqualTo(plain.renderer().render(plain.state()).text());
    }
  }

  @Test
  void render_sameInputsWithoutControlCharacters_writesEveryField() {
    // Each field above reaches the text when it is clean, so each refusal is about the character.
    for (Field f : Field.values()) {
      Input in = input(f, 'Q');
      String text = in.renderer().render(in.state()).text();
      assertThat(text).as(f.name()).contains("KUBE-SVC-");
      String expected =
          switch (f) {
            case NAMESPACE -> "nsQ1/svc1:p80";
            case SERVICE_NAME -> "svcQ-A INPUT -j ACCEPT";
            case PORT_NAME -> "pQ80";
            case CLUSTER_IP -> "-d 172.30.0.41Q";
            case EXTERNAL_IP -> "-d 192.168.99.11Q";
            case LOAD_BALANCER_IP -> "-d 1.2.3.4Q";
            case LOAD_BALANCER_SOURCE_RANGE -> "-s 203.0.113.0/25Q";
            case ENDPOINT_IP -> "10.180.0.1Q:80";
            case DETECT_LOCAL_CIDR -> "-s 10.0.0.0/8Q";
            case DETECT_LOCAL_INTERFACE_PREFIX -> "-i vethQ+";
            case NODE_IP_FOR_NODEPORT_ADDRESSES -> null;
            default -> "KUBE-SERVICES";
          };
      if (expected != null) {
        assertThat(text).as(f.name()).contains(expected);
      }
    }
  }
}
