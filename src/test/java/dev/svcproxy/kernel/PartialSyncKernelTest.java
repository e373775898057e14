package dev.svcproxy.kernel;

import static dev.svcproxy.testutil.SavedTables.canonical;
import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Partial syncs, which trust svcproxy's record of what it applied instead of reading the kernel,
 * leave the kernel exactly as one full sync of the final state into an empty node does.
 */
class PartialSyncKernelTest {

  private static final String ADDED =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns9, name: added}
      spec: {clusterIP: 172.30.0.49, ports: [{name: p, port: 80}]}
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns9, name: added-1, labels: {kubernetes.io/service-name: added}}
      addressType: IPv4
      ports: [{name: p, port: 80}]
      endpoints: [{addresses: [10.180.9.1]}, {addresses: [10.180.9.2]}]
      """;

  private static KernelCapabilities caps() {
    return OverallRulesTestAccess.capabilities().withNfacct(false, false).withRandomFully(true);
  }

  /**
   * A runner that counts the iptables-save calls it passes on, and the restores that flush and
   * rewrite a whole KUBE-SERVICES chain.
   */
  private static final class Counting implements CommandRunner {
    private final CommandRunner inner;
    private int saves;
    private int servicesRewrites;

    Counting(CommandRunner inner) {
      this.inner = inner;
    }

    @Override
    public CommandResult run(List<String> argv, String stdin, Duration timeout) {
      if (argv.get(0).endsWith("-save")) {
        saves++;
      }
      if (argv.get(0).endsWith("-restore") && stdin.contains("\n:KUBE-SERVICES ")) {
        servicesRewrites++;
      }
      return inner.run(argv, stdin, timeout);
    }

    @Override
    public Spawned spawn(List<String> argv, Path log) {
      return inner.spawn(argv, log);
    }
  }

  private static String without(String yaml, String namespace) {
    return String.join(
        "\n---\n",
        Arrays.stream(yaml.split("\n---\n"))
            .filter(d -> !d.contains("namespace: " + namespace + ","))
            .toList());
  }

  @ParameterizedTest
  @ValueSource(strings = {"iptables-nft", "iptables-legacy"})
  void partialSyncs_addChangeDelete_kernelEqualsFreshFullSync(String backend) {
    KernelTests.require("kernel tests");
    String base = States.resource("/golden/overall/input.yaml");
    // Step 1: a service is added.
    String added = base + "\n---\n" + ADDED;
    // Step 2: ns1/svc1's endpoint moves and ns4/svc4 loses one of its two.
    String moved =
        added
            .replace(
                "endpoints: [{addresses: [10.180.0.1]}]", "endpoints: [{addresses: [10.180.0.9]}]")
            .replace("- addresses: [10.180.0.5]\n  nodeName: test-node\n", "");
    // Step 3: ns5/svc5 (firewall, external and affinity chains) and ns3/svc3 are deleted.
    String deleted = without(without(moved, "ns5"), "ns3");
    assertThat(moved).doesNotContain("10.180.0.1]", "10.180.0.5]");
    assertThat(deleted).doesNotContain("ns5", "ns3").contains("ns9", "ns4", "10.180.0.9");

    try (Lab lab = Lab.create(new ProcessCommandRunner(), 2)) {
      Counting node = new Counting(lab.runner().inNetns(lab.node("node1").netns()));
      IptablesProxier proxier =
          new IptablesProxier(
              new IptablesKernel(node, backend),
              OverallRulesTestAccess.config(),
              OverallRulesTestAccess.options(),
              caps());
      proxier.sync(States.fromYaml(base), true, Set.of());
      int savesAfterFull = node.saves;
      int rewritesAfterFull = node.servicesRewrites;
      proxier.sync(States.fromYaml(added), false, Set.of("ns9/added"));
      proxier.sync(States.fromYaml(moved), false, Set.of("ns1/svc1", "ns4/svc4"));
      ProxyState last = States.fromYaml(deleted);
      proxier.sync(last, false, Set.of("ns5/svc5", "ns3/svc3"));
      assertThat(node.saves)
          .as("iptables-save runs during partial syncs")
          .isEqualTo(savesAfterFull);
      // The shared chains are edited rule by rule, never flushed and rewritten whole.
      assertThat(node.servicesRewrites)
          .as("KUBE-SERVICES rewrites during partial syncs")
          .isEqualTo(rewritesAfterFull);
      assertThat(proxier.excluded()).isEmpty();

      CommandRunner fresh = lab.runner().inNetns(lab.node("node2").netns());
      new IptablesProxier(
              new IptablesKernel(fresh, backend),
              OverallRulesTestAccess.config(),
              OverallRulesTestAccess.options(),
              caps())
          .sync(last, true, Set.of());

      for (String table : List.of("nat", "filter")) {
        Map<String, List<String>> want = canonical(fresh, backend, table);
        assertThat(canonical(node, backend, table)).as(table).isEqualTo(want);
      }
      Map<String, List<String>> nat = canonical(node, backend, "nat");
      // The oracle is not vacuous: the final state's chains are there, the deleted ones are not.
      assertThat(nat.toString())
          .contains("ns9/added:p", "10.180.0.9:80", "10.180.9.2:80")
          .doesNotContain("ns5/svc5", "ns3/svc3", "10.180.0.5:80", "10.180.0.1:80");
    }
  }
}
