package dev.svcproxy.sync.nftables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.NftKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.nftables.NftObjects;
import dev.svcproxy.nftables.NftRuleset;
import dev.svcproxy.render.nftables.NftablesOptions;
import dev.svcproxy.render.nftables.NftablesRenderer;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The proxier with the real renderer on upstream's TestOverallNFTablesRules input: the kernel ends
 * up holding what a plain load of the rendered table gives, and nft prints back every rule the
 * renderer writes in a form the proxier recognises (a restart's full sync rewrites nothing).
 */
class NftablesRendererSyncKernelTest {
  private static final String DIR = "/dev/svcproxy/render/nftables/";

  /** Upstream's NewFakeProxier(IPv4): test-node at 192.168.0.2, pods 10.0.0.0/8. */
  private static NftRender renderer() {
    ProxyConfig cfg =
        new ProxyConfig(
            "test-node",
            "192.168.0.2",
            List.of("127.0.0.1", "192.168.0.2", "192.168.1.2", "192.168.99.11"),
            "",
            new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.0.0.0/8"),
            14,
            false,
            List.of(Cidr.parse("192.168.0.2/32")));
    NftablesRenderer r = new NftablesRenderer(cfg, NftablesOptions.defaults());
    return new NftRender() {
      @Override
      public NftRuleset render(ProxyState s) {
        return r.render(s);
      }

      @Override
      public NftObjects base(ProxyState s) {
        return r.base(s);
      }

      @Override
      public NftObjects servicePort(ProxyState s, ServicePortName spn) {
        return r.servicePort(s, spn);
      }
    };
  }

  private static List<String> listing(CommandRunner r) {
    return r.run("nft", "list", "table", "ip", "kube-proxy")
        .orThrow()
        .stdout()
        .lines()
        .map(String::strip)
        .filter(l -> !l.isEmpty())
        .sorted()
        .toList();
  }

  @Test
  void fullSync_upstreamOverallInput_kernelHoldsItAndARestartRewritesNothing() {
    KernelTests.require("nftables kernel tests");
    ProxyState state =
        States.fromYaml(States.resource(DIR + "overall-input.yaml"))
            .withServiceCidrs(List.of(Cidr.parse("172.30.0.0/16")));
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 2)) {
      CommandRunner node = lab.runner().inNetns(lab.node("node1").netns());
      CommandRunner oracle = lab.runner().inNetns(lab.node("node2").netns());
      NftRender render = renderer();
      new NftablesProxier(new NftKernel(node), render).sync(state, true, Set.of());

      oracle
          .run(
              List.of("nft", "-f", "-"),
              NftablesRenderer.fullSyncTransaction(render.render(state)).text(),
              CommandRunner.DEFAULT_TIMEOUT)
          .orThrow();
      assertThat(listing(node)).isEqualTo(listing(oracle));

      NftSyncResult again =
          new NftablesProxier(new NftKernel(node), renderer()).sync(state, true, Set.of());
      assertThat(again.transactions())
          .containsExactly("add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n");
    }
  }
}
