package dev.svcproxy.sync.iptables;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.sync.SyncException;
import dev.svcproxy.testutil.States;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The figures an iptables sync reports for upstream's metrics, checked against what the fake kernel
 * saw: refused restores as it counted them, rules as the accepted input held them.
 */
class IptablesSyncResultTest {
  private static final String POISON = "10.0.9.9";

  /** Any restore input with a rule line containing this is refused, naming the line. */
  private final AtomicReference<String> poison = new AtomicReference<>();

  /** What iptables-save -t nat prints. */
  private final AtomicReference<String> nat = new AtomicReference<>("*nat\nCOMMIT\n");

  private final RecordingCommandRunner runner = new RecordingCommandRunner(this::answer);

  private CommandResult answer(RecordingCommandRunner.Call c) {
    if (c.argv().get(0).equals("iptables-save")) {
      return new CommandResult(c.argv(), 0, nat.get(), "");
    }
    if (c.argv().get(0).equals("iptables-restore") && poison.get() != null) {
      List<String> lines = c.stdin().lines().toList();
      for (int i = 0; i < lines.size(); i++) {
        if (lines.get(i).startsWith("-A ") && lines.get(i).contains(poison.get())) {
          return new CommandResult(
              c.argv(),
              4,
              "",
              "iptables-nft-restore v1.8.9 (nf_tables): \nline "
                  + (i + 1)
                  + ": RULE_APPEND failed (Invalid argument)\n");
        }
      }
    }
    return new CommandResult(c.argv(), 0, "", "");
  }

  private IptablesProxier proxier() {
    return new IptablesProxier(
        new IptablesKernel(runner),
        ProxyConfig.defaults("n1", "192.168.0.2", LocalTrafficDetector.none()),
        IptablesOptions.defaults());
  }

  private static ProxyState state(String a, String b) {
    return States.fromYaml(
        States.oneEndpointService("a", "172.30.0.1", a)
            + States.oneEndpointService("b", "172.30.0.2", b));
  }

  private List<RecordingCommandRunner.Call> restores() {
    return runner.calls().stream().filter(c -> c.argv().get(0).equals("iptables-restore")).toList();
  }

  private long refusedByKernel() {
    return restores().stream().filter(c -> !answer(c).ok()).count();
  }

  @Test
  void sync_clean_noRefusedRestoresAndRuleCountsOfTheInput() {
    IptablesSyncResult r = proxier().sync(state("10.0.1.1", "10.0.2.1"), true, Set.of());
    assertThat(r.refusedRestores()).isZero();
    assertThat(r.wasFull()).contains(true);
    // A first sync writes every rule: the totals are the -A lines of its one input per table.
    String input = restores().getLast().stdin();
    String nat = input.substring(input.indexOf("*nat"));
    String filter = input.substring(input.indexOf("*filter"), input.indexOf("*nat"));
    assertThat(r.iptablesRulesTotal().get("nat")).isEqualTo(count(nat));
    assertThat(r.iptablesRulesTotal().get("filter")).isEqualTo(count(filter));
    assertThat(r.iptablesRulesLastSync()).isEqualTo(r.iptablesRulesTotal());
  }

  @Test
  void sync_staleChainDeleted_deletionIsNotARule() {
    // A service chain left by an earlier run: the full sync flushes and deletes it ("-X").
    nat.set(
        "*nat\n:KUBE-SVC-STALESTALESTALE1 - [0:0]\n-A KUBE-SVC-STALESTALESTALE1 -j ACCEPT\nCOMMIT\n");
    IptablesSyncResult r = proxier().sync(state("10.0.1.1", "10.0.2.1"), true, Set.of());
    String input = restores().getLast().stdin();
    String natInput = input.substring(input.indexOf("*nat"));
    assertThat(natInput).contains("-X KUBE-SVC-STALESTALESTALE1");
    assertThat(r.render().deletedChains()).isEqualTo(1);
    assertThat(r.iptablesRulesTotal().get("nat")).isEqualTo(count(natInput));
    assertThat(r.iptablesRulesLastSync().get("nat")).isEqualTo(count(natInput));
  }

  private static int count(String table) {
    return (int) table.lines().filter(l -> l.startsWith("-A ")).count();
  }

  @Test
  void sync_oneServiceRefused_recoversAndReportsTheRefusedRestore() {
    poison.set(POISON);
    IptablesSyncResult r = proxier().sync(state(POISON, "10.0.2.1"), true, Set.of());
    assertThat(refusedByKernel()).isEqualTo(1);
    assertThat(r.refusedRestores()).isEqualTo(1);
  }

  @Test
  void sync_failsUnpinned_exceptionCarriesTheRefusedRestores() {
    // The fixed rules themselves are refused: every attempt fails.
    poison.set("-j MARK --or-mark");
    IptablesProxier p = proxier();
    SyncException e =
        catchThrowableOfType(
            SyncException.class, () -> p.sync(state("10.0.1.1", "10.0.2.1"), true, Set.of()));
    assertThat(e).isNotNull();
    assertThat(refusedByKernel()).isGreaterThan(1);
    assertThat(e.refusedRestores()).isEqualTo((int) refusedByKernel());
  }
}
