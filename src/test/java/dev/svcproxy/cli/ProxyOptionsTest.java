package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.testutil.FakeNode;
import java.lang.reflect.RecordComponent;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProxyOptionsTest {

  @Test
  void proxyConfig_dualStackClusterCidr_detectorHoldsTheIpv4Network() {
    // Upstream's ClusterCIDR detector of the IPv4 proxier takes the IPv4 one of the pair, as a
    // network (IfNotLocal is "! -s 10.0.0.0/8").
    ProxyConfig cfg =
        ProxyOptionsAccess.config(
            List.of(
                "--manifests", "x", "--node-name", "n", "--cluster-cidr", "fd00::/48,10.1.2.3/8"),
            FakeNode.runner());
    assertThat(cfg.localDetector())
        .isEqualTo(new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.0.0.0/8"));
  }

  @Test
  void proxyConfig_components_clusterCidrsOnlyInTheLocalDetector() {
    // One source of truth: upstream's proxiers (iptables, nftables, IPVS) are handed only the
    // LocalTrafficDetector built from --cluster-cidr / --detect-local-mode, never the CIDRs again.
    assertThat(Arrays.stream(ProxyConfig.class.getRecordComponents()).map(RecordComponent::getName))
        .contains("localDetector")
        .doesNotContain("clusterCidrs");
  }
}
