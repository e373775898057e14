package dev.svcproxy.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.sync.iptables.UnchangedChains;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What both iptables backends print back for our rules is understood: the dump round-trips exactly,
 * and a full resync over an unchanged kernel finds every service chain unchanged.
 */
class UnchangedChainsKernelTest {

  private static KernelCapabilities caps() {
    return OverallRulesTestAccess.capabilities().withNfacct(false, false).withRandomFully(true);
  }

  @ParameterizedTest
  @ValueSource(strings = {"iptables-nft", "iptables-legacy"})
  void fullResync_unchangedKernel_writesNoServiceChain(String backend) {
    KernelTests.require("kernel tests");
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 1)) {
      CommandRunner node = lab.runner().inNetns(lab.node("node1").netns());
      IptablesKernel kernel = new IptablesKernel(node, backend);
      ProxyState state = States.fromYaml(States.resource("/golden/overall/input.yaml"));
      IptablesProxier proxier =
          new IptablesProxier(
              kernel, OverallRulesTestAccess.config(), OverallRulesTestAccess.options(), caps());
      proxier.sync(state, true, Set.of());

      String saved = node.run(backend + "-save", "-t", "nat").orThrow().stdout();
      Ruleset parsed = IptablesCodec.parseStrict(saved, backend + "-save");
      assertThat(parsed.print()).isEqualTo(saved);

      Table kernelNat = parsed.table("nat").orElseThrow();
      Ruleset full = OverallRulesTestAccess.renderer(caps()).render(state).restoreInput();
      Table left = UnchangedChains.drop(full, kernelNat).table("nat").orElseThrow();
      assertThat(left.chainDecls())
          .extracting(Line.ChainDecl::name)
          .containsExactlyInAnyOrder(
              "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ");
      // The same from the saved text, compared line by line without parsing where it can; the
      // top-level chains, equal too, go as well.
      Map<String, List<String>> savedLines = UnchangedChains.savedChains(saved);
      // As the proxier rendered it (with the nfacct counters it found on this node).
      Ruleset written =
          OverallRulesTestAccess.renderer(proxier.capabilities()).render(state).restoreInput();
      assertThat(
              UnchangedChains.dropSaved(written, savedLines)
                  .table("nat")
                  .orElseThrow()
                  .chainDecls())
          .isEmpty();

      // A changed endpoint makes its service's chains differ again.
      ProxyState moved =
          States.fromYaml(
              States.resource("/golden/overall/input.yaml").replace("10.180.0.1]", "10.180.0.9]"));
      Ruleset changed = OverallRulesTestAccess.renderer(caps()).render(moved).restoreInput();
      Table left2 = UnchangedChains.drop(changed, kernelNat).table("nat").orElseThrow();
      assertThat(left2.chainDecls())
          .extracting(Line.ChainDecl::name)
          .contains("KUBE-SVC-XPGD46QRK7WJZT7O")
          .doesNotContain("KUBE-SVC-X27LE4BHSL4DOUIK");
      assertThat(
              UnchangedChains.dropSaved(changed, savedLines)
                  .table("nat")
                  .orElseThrow()
                  .chainDecls())
          .extracting(Line.ChainDecl::name)
          .contains("KUBE-SVC-XPGD46QRK7WJZT7O")
          .doesNotContain("KUBE-SVC-X27LE4BHSL4DOUIK");
    }
  }
}
