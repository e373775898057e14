package dev.svcproxy.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.sync.SyncLoop;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The applier against the real kernel, inside a throw-away node namespace. */
class IptablesKernelTest {
  private Lab lab;
  private CommandRunner node;
  private IptablesKernel kernel;

  @BeforeEach
  void setUp() {
    KernelTests.require("kernel tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.runner().inNetns(lab.node("node1").netns());
    kernel = new IptablesKernel(node);
  }

  @AfterEach
  void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  private static ProxyState overall() {
    return States.fromYaml(States.resource("/golden/overall/input.yaml"));
  }

  private static KernelCapabilities caps() {
    // No nfacct objects exist in a fresh namespace, so render as a node without them.
    return OverallRulesTestAccess.capabilities().withNfacct(false, false);
  }

  private String save(String table) {
    return node.run("iptables-save", "-t", table).orThrow().stdout();
  }

  private String save(String backend, String table) {
    return node.run(backend + "-save", "-t", table).orThrow().stdout();
  }

  @Test
  void restore_upstreamOverallRuleset_kernelAcceptsItAndSaveRoundTrips() {
    IptablesProxier proxier =
        new IptablesProxier(
            kernel, OverallRulesTestAccess.config(), OverallRulesTestAccess.options(), caps());
    proxier.sync(overall(), true, Set.of());
    String nat = save("nat");
    Ruleset parsed = IptablesCodec.parseStrict(nat, "iptables-save -t nat");
    assertThat(parsed.print()).isEqualTo(nat);
    Set<String> rendered = new TreeSet<>();
    // The proxier's effective configuration: nfacct matches appear when it could create counters.
    Table want =
        OverallRulesTestAccess.renderer(proxier.capabilities())
            .render(overall())
            .restoreInput()
            .table("nat")
            .orElseThrow();
    want.chainDecls().forEach(c -> rendered.add(c.name()));
    Set<String> saved = new TreeSet<>();
    parsed.table("nat").orElseThrow().chainDecls().forEach(c -> saved.add(c.name()));
    assertThat(saved).containsAll(rendered).contains("KUBE-PROXY-CANARY", "PREROUTING");
    // Each chain holds as many rules as rendered.
    for (String c : rendered) {
      assertThat(parsed.table("nat").orElseThrow().rules(c)).as(c).hasSameSizeAs(want.rules(c));
    }
  }

  @Test
  void restore_rejectedInput_leavesPreviousRulesInPlace() {
    IptablesProxier proxier =
        new IptablesProxier(
            kernel, OverallRulesTestAccess.config(), OverallRulesTestAccess.options(), caps());
    proxier.sync(overall(), true, Set.of());
    String before = save("nat").replaceAll("(?m)^#.*\n", "");
    // A port beyond 65535: iptables-restore refuses the whole input.
    String good = OverallRulesTestAccess.renderer(caps()).render(ProxyState.empty()).text();
    int last = good.lastIndexOf("COMMIT");
    String bad =
        good.substring(0, last)
            + "-A KUBE-SERVICES -m tcp -p tcp --dport 99999 -j ACCEPT\n"
            + good.substring(last);
    CommandResult r = kernel.restore(bad);
    assertThat(r.ok()).isFalse();
    assertThat(save("nat").replaceAll("(?m)^#.*\n", "")).isEqualTo(before);
  }

  @Test
  void cleanup_afterSync_removesEveryChainAndJump() {
    IptablesProxier proxier =
        new IptablesProxier(
            kernel, OverallRulesTestAccess.config(), OverallRulesTestAccess.options(), caps());
    proxier.sync(overall(), true, Set.of());
    assertThat(save("nat")).contains("KUBE-SERVICES");
    proxier.cleanup();
    for (String table : new String[] {"nat", "filter", "mangle"}) {
      assertThat(save(table)).as(table).doesNotContain("KUBE-");
    }
  }

  @Test
  void syncLoop_flushedTables_restoredAfterCanaryCheck() throws Exception {
    IptablesProxier proxier =
        new IptablesProxier(
            kernel, OverallRulesTestAccess.config(), OverallRulesTestAccess.options(), caps());
    SyncLoop.Timing timing =
        new SyncLoop.Timing(Duration.ofMillis(50), Duration.ofMillis(300), Duration.ofHours(1));
    try (SyncLoop loop = new SyncLoop(proxier, timing)) {
      loop.update(overall());
      loop.start();
      assertThat(loop.awaitApplied(overall(), Duration.ofSeconds(10))).isTrue();
      int before = loop.successes();
      for (String table : new String[] {"nat", "filter", "mangle"}) {
        node.run("iptables", "-t", table, "-F").orThrow();
        node.run("iptables", "-t", table, "-X").orThrow();
      }
      assertThat(save("nat")).doesNotContain("KUBE-SERVICES");
      assertThat(loop.awaitSuccesses(before + 1, Duration.ofSeconds(10))).isTrue();
    }
    assertThat(save("nat"))
        .contains(
            "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES");
    assertThat(save("nat")).contains("KUBE-SVC-XPGD46QRK7WJZT7O");
  }

  @Test
  void fullSync_withNfacctCounters_kernelAcceptsUpstreamsExactRules() {
    assertThat(node.run("nfacct", "list").ok())
        .as("nfacct works (scripts/install-test-deps installs it)")
        .isTrue();
    // The proxier creates the counters, so upstream's expected rules (nfacct matches included) load
    // as they are.
    IptablesProxier proxier =
        new IptablesProxier(
            kernel,
            OverallRulesTestAccess.config(),
            OverallRulesTestAccess.options(),
            OverallRulesTestAccess.capabilities());
    proxier.sync(overall(), true, Set.of());
    assertThat(node.run("nfacct", "list").stdout())
        .contains("localhost_nps_accepted_pkts")
        .contains("ct_state_invalid_dropped_pkts");
    // iptables-save prints the nfacct option with two spaces; compare with one.
    assertThat(save("nat").replace("  ", " "))
        .contains(
            "-m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-GNZBNJ2PO5MGZ6GT");
    assertThat(save("filter").replace("  ", " "))
        .contains("-m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP");
  }

  private static final String NAT_JUMP =
      "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES";
  private static final String FILTER_JUMP =
      "-A INPUT -m conntrack --ctstate NEW -m comment --comment"
          + " \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES";

  /** The rule lines of a dump, in order. */
  private static List<String> rules(String dump) {
    return dump.lines().filter(l -> l.startsWith("-A ")).toList();
  }

  @ParameterizedTest(name = "{0} -t {1} {2}")
  @CsvSource({
    "iptables-nft, nat, -F",
    "iptables-nft, nat, -F -X",
    "iptables-nft, filter, -F",
    "iptables-nft, filter, -F -X",
    "iptables-legacy, nat, -F",
    "iptables-legacy, filter, -F -X"
  })
  void syncLoop_tableFlushedFromOutside_rulesBackWithinSyncPeriod(
      String backend, String table, String how) throws Exception {
    IptablesProxier proxier =
        new IptablesProxier(
            new IptablesKernel(node, backend),
            OverallRulesTestAccess.config(),
            OverallRulesTestAccess.options(),
            caps());
    // A one-second check against an hourly full sync: only the check can repair the node in time.
    SyncLoop.Timing timing =
        new SyncLoop.Timing(Duration.ofMillis(50), Duration.ofSeconds(1), Duration.ofHours(1));
    String jump = table.equals("nat") ? NAT_JUMP : FILTER_JUMP;
    try (SyncLoop loop = new SyncLoop(proxier, timing)) {
      loop.update(overall());
      loop.start();
      assertThat(loop.awaitApplied(overall(), Duration.ofSeconds(20))).isTrue();
      String before = save(backend, table);
      assertThat(before).contains(jump);
      for (String op : how.split(" ")) {
        node.run(backend, "-t", table, op).orThrow();
      }
      String flushed = save(backend, table);
      assertThat(rules(flushed)).isEmpty();
      // -F leaves every chain, the canary too; only the missing jumps can tell.
      assertThat(flushed.contains(":KUBE-PROXY-CANARY")).isEqualTo(how.equals("-F"));
      // One sync period for the check, plus the full sync itself on a busy machine.
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (System.nanoTime() < deadline && !rules(save(backend, table)).equals(rules(before))) {
        Thread.sleep(100);
      }
      String after = save(backend, table);
      assertThat(rules(after)).isEqualTo(rules(before));
      assertThat(after).contains(":KUBE-PROXY-CANARY");
    }
  }

  /**
   * A runner in which `nfacct get` reports the localhost NodePort counter present while the kernel
   * has none, as when `nfacct flush` runs between the proxier's check and its restore: the kernel
   * then refuses the NodePort service's localhost rule, and only that rule.
   */
  private CommandRunner counterVanished(CommandRunner inner) {
    return new CommandRunner() {
      @Override
      public CommandResult run(List<String> argv, String stdin, Duration timeout) {
        if (argv.equals(List.of("nfacct", "get", "localhost_nps_accepted_pkts"))) {
          return new CommandResult(argv, 0, "", "");
        }
        return inner.run(argv, stdin, timeout);
      }

      @Override
      public Spawned spawn(List<String> argv, java.nio.file.Path log) {
        return inner.spawn(argv, log);
      }
    };
  }

  private static final String THREE_SERVICES =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: np}
      spec: {type: NodePort, clusterIP: 172.30.0.1, ports: [{name: p, port: 80, nodePort: 30080}]}
      ---
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: b}
      spec: {clusterIP: 172.30.0.2, ports: [{name: p, port: 80}]}
      ---
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: c}
      spec: {clusterIP: 172.30.0.3, ports: [{name: p, port: 80}]}
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns, name: np-1, labels: {kubernetes.io/service-name: np}}
      addressType: IPv4
      ports: [{name: p, port: 80}]
      endpoints: [{addresses: [10.180.0.1]}]
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns, name: b-1, labels: {kubernetes.io/service-name: b}}
      addressType: IPv4
      ports: [{name: p, port: 80}]
      endpoints: [{addresses: [10.180.0.2]}]
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns, name: c-1, labels: {kubernetes.io/service-name: c}}
      addressType: IPv4
      ports: [{name: p, port: 80}]
      endpoints: [{addresses: [10.180.0.3]}]
      """;

  @ParameterizedTest
  @ValueSource(strings = {"iptables-nft", "iptables-legacy"})
  void sync_kernelRefusesOneServicesRule_otherServicesLandAndItIsRetried(String backend) {
    assertThat(node.run("nfacct", "list").ok())
        .as("nfacct works (scripts/install-test-deps installs it)")
        .isTrue();
    ProxyState state = States.fromYaml(THREE_SERVICES);
    IptablesProxier proxier =
        new IptablesProxier(
            new IptablesKernel(counterVanished(node), backend),
            OverallRulesTestAccess.config(),
            OverallRulesTestAccess.options(),
            caps());
    proxier.sync(state, true, Set.of());
    String nat = node.run(backend + "-save", "-t", "nat").orThrow().stdout();
    assertThat(nat)
        .contains("\"ns/b:p cluster IP\"", "--to-destination 10.180.0.2:80")
        .contains("\"ns/c:p cluster IP\"", "--to-destination 10.180.0.3:80")
        .doesNotContain("ns/np:p")
        .doesNotContain("10.180.0.1");
    ServicePortName np = new ServicePortName("ns", "np", "p", Protocol.TCP);
    assertThat(proxier.excluded()).containsOnlyKeys(np);
    if (backend.equals("iptables-nft")) {
      // iptables-nft names the refused rule's line.
      assertThat(proxier.excluded().get(np).reason())
          .contains("--nfacct-name localhost_nps_accepted_pkts")
          .contains("RULE_APPEND failed");
    } else {
      // iptables-legacy names the table's COMMIT; bisection found the service.
      assertThat(proxier.excluded().get(np).reason()).contains("bisection", "line");
    }

    // Once the counter exists again, the next full sync brings the service in.
    node.run("nfacct", "add", "localhost_nps_accepted_pkts").orThrow();
    proxier.sync(state, true, Set.of());
    assertThat(node.run(backend + "-save", "-t", "nat").orThrow().stdout())
        .contains("ns/np:p", "--to-destination 10.180.0.1:80", "--to-destination 10.180.0.2:80");
    assertThat(proxier.excluded()).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"iptables-nft", "iptables-legacy"})
  void partialSync_refusedChange_serviceKeepsItsPreviousRules(String backend) {
    assertThat(node.run("nfacct", "list").ok())
        .as("nfacct works (scripts/install-test-deps installs it)")
        .isTrue();
    IptablesProxier proxier =
        new IptablesProxier(
            new IptablesKernel(counterVanished(node), backend),
            OverallRulesTestAccess.config(),
            OverallRulesTestAccess.options(),
            caps());
    String asClusterIP =
        THREE_SERVICES.replace(
            "spec: {type: NodePort, clusterIP: 172.30.0.1, ports: [{name: p, port: 80, nodePort:"
                + " 30080}]}",
            "spec: {clusterIP: 172.30.0.1, ports: [{name: p, port: 80}]}");
    assertThat(asClusterIP).isNotEqualTo(THREE_SERVICES);
    proxier.sync(States.fromYaml(asClusterIP), true, Set.of());
    // np becomes a NodePort, whose localhost rule the kernel refuses; b moves in the same sync.
    ProxyState next =
        States.fromYaml(
            THREE_SERVICES.replace("addresses: [10.180.0.2]", "addresses: [10.180.0.5]"));
    proxier.sync(next, false, Set.of("ns/np", "ns/b"));
    String nat = node.run(backend + "-save", "-t", "nat").orThrow().stdout();
    assertThat(nat)
        .contains("\"ns/np:p cluster IP\"", "--to-destination 10.180.0.1:80")
        .doesNotContain("--dport 30080")
        .contains("--to-destination 10.180.0.5:80")
        .doesNotContain("10.180.0.2");
    ServicePortName np = new ServicePortName("ns", "np", "p", Protocol.TCP);
    assertThat(proxier.excluded()).containsOnlyKeys(np);
    assertThat(proxier.excluded().get(np).keptPrevious()).isTrue();
  }
}
