package dev.svcproxy.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.render.iptables.IptablesConfig;
import dev.svcproxy.render.iptables.IptablesRenderer;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.sync.IptablesProxier;
import dev.svcproxy.sync.SyncLoop;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

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

  private static IptablesConfig config() {
    // No nfacct objects exist in a fresh namespace, so render as a node without them.
    return dev.svcproxy.render.iptables.OverallRulesTestAccess.config().withNfacct(false, false);
  }

  private String save(String table) {
    return node.run("iptables-save", "-t", table).orThrow().stdout();
  }

  @Test
  void restore_upstreamOverallRuleset_kernelAcceptsItAndSaveRoundTrips() {
    IptablesProxier proxier = new IptablesProxier(kernel, config());
    proxier.sync(overall(), true, Set.of());
    String nat = save("nat");
    Ruleset parsed = IptablesCodec.parseStrict(nat, "iptables-save -t nat");
    assertThat(parsed.print()).isEqualTo(nat);
    Set<String> rendered = new TreeSet<>();
    // The proxier's effective configuration: nfacct matches appear when it could create counters.
    Table want =
        new IptablesRenderer(proxier.config())
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
    IptablesProxier proxier = new IptablesProxier(kernel, config());
    proxier.sync(overall(), true, Set.of());
    String before = save("nat").replaceAll("(?m)^#.*\n", "");
    // A port beyond 65535: iptables-restore refuses the whole input.
    String good = new IptablesRenderer(config()).render(ProxyState.empty()).text();
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
    IptablesProxier proxier = new IptablesProxier(kernel, config());
    proxier.sync(overall(), true, Set.of());
    assertThat(save("nat")).contains("KUBE-SERVICES");
    proxier.cleanup();
    for (String table : new String[] {"nat", "filter", "mangle"}) {
      assertThat(save(table)).as(table).doesNotContain("KUBE-");
    }
  }

  @Test
  void syncLoop_flushedTables_restoredAfterCanaryCheck() throws Exception {
    IptablesProxier proxier = new IptablesProxier(kernel, config());
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
    IptablesProxier proxier = new IptablesProxier(kernel, OverallRulesTestAccess.config());
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
}
