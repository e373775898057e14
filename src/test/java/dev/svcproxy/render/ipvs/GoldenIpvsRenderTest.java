package dev.svcproxy.render.ipvs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.testutil.States;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The full render of golden/ipvs/input.yaml against golden/ipvs/expected.txt, which was written by
 * hand from upstream's rule templates (pkg/proxy/ipvs/proxier.go writeIptablesRules,
 * ipsetWithIptablesChain, ipsetInfo, iptablesJumpChain, NewProxier's sysctls) and ipset.go's entry
 * formats: golden/ipvs/README.md walks through it line by line.
 */
class GoldenIpvsRenderTest {

  /** The node of the golden: test-node, 192.168.0.2 and 10.0.0.2, --cluster-cidr 10.244.0.0/16. */
  static ProxyConfig config() {
    return new ProxyConfig(
        "test-node",
        "192.168.0.2",
        List.of("192.168.0.2", "10.0.0.2"),
        "",
        new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.244.0.0/16"),
        14,
        false,
        List.<Cidr>of());
  }

  /** --ipvs-strict-arp, --ipvs-tcp-timeout 2h, --ipvs-udp-timeout 30s. */
  static IpvsOptions options() {
    return new IpvsOptions("rr", List.of(), true, 7200, 0, 30);
  }

  @Test
  void render_goldenInput_matchesHandWrittenExpectation() {
    IpvsState s =
        new IpvsRenderer(
                config(), options(), KernelCapabilities.none().withRandomFully(true), "5.4.0-150")
            .render(
                States.fromYaml(States.resource("/golden/ipvs/input.yaml")),
                List.of("192.168.0.2", "127.0.0.1", "10.0.0.2"));
    assertThat(IpvsText.print(s, options()))
        .isEqualTo(States.resource("/golden/ipvs/expected.txt"));
  }
}
