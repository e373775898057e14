package dev.svcproxy.sync.iptables;

import static dev.svcproxy.testutil.SavedTables.canonical;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.bench.ResyncBenchmark;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.sync.SyncException;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A large sync loads the service chains the kernel lacks in several transactions before one
 * switches to them: the kernel ends exactly as after one transaction of the whole input, and a
 * refused transaction leaves it exactly as it was.
 */
class BuildThenSwitchKernelTest {
  /** Small enough that 40 services of 3 endpoints take many build batches. */
  private static final int BATCH_LINES = 60;

  private static IptablesProxier proxier(IptablesKernel kernel, int batchLines) {
    return new IptablesProxier(
        kernel,
        OverallRulesTestAccess.config(),
        IptablesOptions.defaults(),
        new KernelCapabilities(false, false, true, false),
        batchLines);
  }

  /** The golden input (NodePorts, firewall, affinity, eTP=Local, ...) plus n ClusterIPs. */
  private static ProxyState state(int n, String yaml) {
    ProxyState golden = States.fromYaml(yaml);
    ProxyState bulk = ResyncBenchmark.services(n, 3);
    TreeMap<ServicePortName, ServicePortInfo> svcs = new TreeMap<>(golden.services());
    svcs.putAll(bulk.services());
    Map<ServicePortName, List<Endpoint>> eps = new HashMap<>(golden.endpoints());
    eps.putAll(bulk.endpoints());
    return new ProxyState(svcs, eps);
  }

  /**
   * A runner that counts iptables-restore runs and adds a bad line to those {@code poison} picks.
   */
  private static final class Injecting implements CommandRunner {
    private final CommandRunner inner;
    private volatile Predicate<String> poison = s -> false;
    private int restores;
    private int refused;

    Injecting(CommandRunner inner) {
      this.inner = inner;
    }

    @Override
    public CommandResult run(List<String> argv, String stdin, Duration timeout) {
      if (argv.get(0).endsWith("-restore")) {
        restores++;
        if (poison.test(stdin)) {
          refused++;
          // A rule in a chain nobody declared: refused, and owned by no service port.
          stdin = stdin.replace("\nCOMMIT\n", "\n-A KUBE-INJECTED-NOWHERE -j ACCEPT\nCOMMIT\n");
        }
      }
      return inner.run(argv, stdin, timeout);
    }

    @Override
    public Spawned spawn(List<String> argv, Path log) {
      return inner.spawn(argv, log);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"iptables-nft", "iptables-legacy"})
  void fullSync_inBatches_kernelEqualsOneTransaction(String backend) {
    KernelTests.require("kernel tests");
    String golden = States.resource("/golden/overall/input.yaml");
    ProxyState first = state(40, golden);
    // Then: 30 more services, ns1/svc1's endpoint moved, ns5/svc5 gone (stale chains to delete).
    ProxyState second =
        state(
            70,
            golden.replace(
                "endpoints: [{addresses: [10.180.0.1]}]",
                "endpoints: [{addresses: [10.180.0.9]}]"));
    Map<ServicePortName, ServicePortInfo> svcs = new TreeMap<>(second.services());
    svcs.keySet().removeIf(s -> s.namespace().equals("ns5"));
    second = new ProxyState(new TreeMap<>(svcs), second.endpoints());
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 2)) {
      Injecting node = new Injecting(lab.runner().inNetns(lab.node("node1").netns()));
      CommandRunner fresh = lab.runner().inNetns(lab.node("node2").netns());
      IptablesProxier batched = proxier(new IptablesKernel(node, backend), BATCH_LINES);
      IptablesProxier single = proxier(new IptablesKernel(fresh, backend), Integer.MAX_VALUE);
      for (ProxyState s : List.of(first, second)) {
        int before = node.restores;
        batched.sync(s, true, Set.of());
        single.sync(s, true, Set.of());
        assertThat(node.restores - before).as("restores of one sync").isGreaterThan(5);
        assertThat(batched.excluded()).isEmpty();
        for (String table : List.of("nat", "filter")) {
          assertThat(canonical(node, backend, table))
              .as(table)
              .isEqualTo(canonical(fresh, backend, table));
        }
      }
      // The oracle is not vacuous: both hold the second state, not the first.
      assertThat(canonical(node, backend, "nat").toString())
          .contains("bench/svc69:http", "10.180.0.9:80")
          .doesNotContain("ns5/svc5", "10.180.0.1:80");

      // A partial sync that adds 20 services builds their chains in batches too.
      Map<ServicePortName, ServicePortInfo> more = new TreeMap<>(second.services());
      Map<ServicePortName, List<Endpoint>> moreEps = new HashMap<>(second.endpoints());
      ProxyState bulk = ResyncBenchmark.services(90, 3);
      Set<String> added = new java.util.HashSet<>();
      for (ServicePortName spn : bulk.services().keySet()) {
        if (!more.containsKey(spn)) {
          more.put(spn, bulk.services().get(spn));
          moreEps.put(spn, bulk.endpointsOf(spn));
          added.add(spn.namespacedName());
        }
      }
      assertThat(added).hasSize(20);
      ProxyState third = new ProxyState(new TreeMap<>(more), moreEps);
      int before = node.restores;
      batched.sync(third, false, added);
      single.sync(third, false, added);
      assertThat(node.restores - before).as("restores of the partial sync").isGreaterThan(5);
      for (String table : List.of("nat", "filter")) {
        assertThat(canonical(node, backend, table))
            .as(table)
            .isEqualTo(canonical(fresh, backend, table));
      }
      assertThat(canonical(node, backend, "nat").toString()).contains("bench/svc89:http");
    }
  }

  @ParameterizedTest
  @CsvSource({
    "iptables-nft, build",
    "iptables-nft, switch",
    "iptables-legacy, build",
    "iptables-legacy, switch"
  })
  void fullSync_transactionRefused_kernelKeepsThePreviousRuleset(String backend, String refused) {
    KernelTests.require("kernel tests");
    String golden = States.resource("/golden/overall/input.yaml");
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 1)) {
      Injecting node = new Injecting(lab.runner().inNetns(lab.node("node1").netns()));
      IptablesProxier proxier = proxier(new IptablesKernel(node, backend), BATCH_LINES);
      proxier.sync(state(10, golden), true, Set.of());
      Map<String, List<String>> nat = canonical(node, backend, "nat");
      Map<String, List<String>> filter = canonical(node, backend, "filter");

      // A build batch holds new service chains only; the switch writes KUBE-SERVICES. The third
      // build and every later one is refused, so two are in the kernel when one is refused.
      int[] builds = {0};
      node.poison =
          refused.equals("build")
              ? in ->
                  !in.contains("-A KUBE-SERVICES ")
                      && in.contains("-A KUBE-SEP-")
                      && ++builds[0] >= 3
              : in -> in.contains("-A KUBE-SERVICES ");
      assertThatThrownBy(() -> proxier.sync(state(50, golden), true, Set.of()))
          .isInstanceOf(SyncException.class);
      assertThat(node.refused).isGreaterThan(0);

      assertThat(canonical(node, backend, "nat")).isEqualTo(nat);
      assertThat(canonical(node, backend, "filter")).isEqualTo(filter);
      assertThat(nat.toString()).contains("bench/svc9:http").doesNotContain("bench/svc10:");
    }
  }
}
