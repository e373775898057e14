package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.testutil.States;
import dev.svcproxy.testutil.UpstreamOrder;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Upstream's TestOverallIPTablesRules: six services, node test-node, cluster CIDR 10.0.0.0/8. */
class OverallRulesTest {

  static ProxyConfig upstreamTestConfig() {
    return new ProxyConfig(
        "test-node",
        "192.168.0.2",
        List.of("192.168.0.2", "192.168.1.2", "192.168.99.11"),
        "",
        new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.0.0.0/8"),
        14,
        false,
        List.<Cidr>of());
  }

  /** Upstream's test proxier has both nfacct counters and neither --random-fully nor be_liberal. */
  static KernelCapabilities upstreamTestCapabilities() {
    return new KernelCapabilities(true, true, false, false);
  }

  static IptablesRenderer upstreamTestRenderer() {
    return new IptablesRenderer(
        upstreamTestConfig(), IptablesOptions.defaults(), upstreamTestCapabilities());
  }

  @Test
  void render_upstreamOverallInputs_equalsUpstreamExpectedText() {
    ProxyState state = States.fromYaml(States.resource("/golden/overall/input.yaml"));
    String rendered = upstreamTestRenderer().render(state).text();
    assertThat(UpstreamOrder.sort(rendered))
        .isEqualTo(UpstreamOrder.sort(States.resource("/golden/overall/expected.txt")));
  }

  @Test
  void render_upstreamOverallInputs_writesChainsBeforeRulesPerTable() {
    ProxyState state = States.fromYaml(States.resource("/golden/overall/input.yaml"));
    String rendered = upstreamTestRenderer().render(state).text();
    assertThat(rendered)
        .startsWith(
            "*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n"
                + ":KUBE-FORWARD - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n");
    assertThat(rendered).endsWith("COMMIT\n");
    assertThat(rendered.lines().filter(l -> l.equals("COMMIT")).count()).isEqualTo(2);
  }
}
