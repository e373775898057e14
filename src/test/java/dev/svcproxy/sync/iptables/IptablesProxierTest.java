package dev.svcproxy.sync.iptables;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.sync.SyncException;
import dev.svcproxy.testutil.States;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The proxier against a recording runner whose iptables-restore refuses, as a kernel would, every
 * input holding a DNAT to a poisoned address, and reports it as one of the real tools does
 * (messages copied from iptables 1.8.9).
 */
class IptablesProxierTest {
  private static final ServicePortName A = new ServicePortName("ns", "a", "p", Protocol.TCP);
  private static final String POISON = "10.0.9.9";

  /** How the fake iptables-restore reports a refused rule. */
  enum Style {
    /** iptables-nft: the kernel refused the rule on line N. */
    NFT,
    /** iptables-legacy: the kernel refused the table; line N is its COMMIT. */
    LEGACY,
    /** A restore that names no line at all. */
    NONE
  }

  private final AtomicReference<Style> style = new AtomicReference<>(Style.NFT);

  /** What the fake kernel refuses: any rule line containing this. */
  private final AtomicReference<String> poison =
      new AtomicReference<>("--to-destination " + POISON);

  private final RecordingCommandRunner runner = new RecordingCommandRunner(this::answer);

  /**
   * The fake node's tables, each chain with its rule lines, as iptables-restore --noflush leaves
   * them: a restore it accepts flushes (or creates) each chain it declares, appends its rules and
   * deletes the chains it names with -X; iptables-save -t nat prints the nat table.
   */
  private final Map<String, Map<String, List<String>>> tables = new TreeMap<>();

  /** The names of the fake node's nat chains. */
  private final Set<String> natChains = new TreeSet<>();

  private CommandResult answer(RecordingCommandRunner.Call c) {
    if (c.argv().get(0).equals("iptables-save")) {
      return new CommandResult(c.argv(), 0, print("nat"), "");
    }
    if (!c.argv().get(0).equals("iptables-restore")) {
      return new CommandResult(c.argv(), 0, "", "");
    }
    CommandResult refused = refusal(c);
    if (refused.ok()) {
      apply(tables, c.stdin());
      natChains.clear();
      natChains.addAll(tables.getOrDefault("nat", Map.of()).keySet());
    }
    return refused;
  }

  /** Applies a restore input the fake kernel accepted to its tables. */
  private static void apply(Map<String, Map<String, List<String>>> tables, String input) {
    {
      Map<String, List<String>> t = null;
      for (String l : input.lines().toList()) {
        if (l.startsWith("*")) {
          t = tables.computeIfAbsent(l.substring(1), k -> new TreeMap<>());
        } else if (l.startsWith(":")) {
          t.put(l.substring(1).split(" ")[0], new ArrayList<>());
        } else if (l.startsWith("-A ")) {
          t.get(l.split(" ")[1]).add(l);
        } else if (l.startsWith("-I ")) {
          // "-I CHAIN N RULE": the rule lands at position N (1-based).
          String[] f = l.split(" ", 4);
          t.get(f[1]).add(Integer.parseInt(f[2]) - 1, "-A " + f[1] + " " + f[3]);
        } else if (l.startsWith("-D ")) {
          String[] f = l.split(" ");
          t.get(f[1]).remove(Integer.parseInt(f[2]) - 1);
        } else if (l.startsWith("-X ")) {
          t.remove(l.substring(3).strip());
        }
      }
    }
  }

  /** One table of the fake node as iptables-save prints it. */
  private String print(String table) {
    return print(tables, table);
  }

  private static String print(Map<String, Map<String, List<String>>> tables, String table) {
    StringBuilder b = new StringBuilder("*" + table + "\n");
    Map<String, List<String>> t = tables.getOrDefault(table, Map.of());
    t.keySet().forEach(n -> b.append(':').append(n).append(" - [0:0]\n"));
    t.values().forEach(rules -> rules.forEach(r -> b.append(r).append('\n')));
    return b.append("COMMIT\n").toString();
  }

  private CommandResult refusal(RecordingCommandRunner.Call c) {
    if (poison.get() == null) {
      return new CommandResult(c.argv(), 0, "", "");
    }
    List<String> lines = c.stdin().lines().toList();
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i);
      if ((line.startsWith("-A ") || line.startsWith("-D ")) && line.contains(poison.get())) {
        String chain = lines.get(i).split(" ")[1];
        String err =
            switch (style.get()) {
              case NFT ->
                  "iptables-nft-restore v1.8.9 (nf_tables): \nline "
                      + (i + 1)
                      + ": RULE_APPEND failed (Invalid argument): rule in chain "
                      + chain
                      + "\n";
              case LEGACY -> {
                int commit = i;
                while (!lines.get(commit).equals("COMMIT")) {
                  commit++;
                }
                yield "Ignoring deprecated --wait-interval option.\niptables-restore: line "
                    + (commit + 1)
                    + " failed\n";
              }
              case NONE -> "iptables-restore: unable to initialize table 'nat'\n";
            };
        return new CommandResult(c.argv(), style.get() == Style.NFT ? 4 : 1, "", err);
      }
    }
    return new CommandResult(c.argv(), 0, "", "");
  }

  private static ProxyState state(String a, String b, String c) {
    return States.fromYaml(
        States.oneEndpointService("a", "172.30.0.1", a)
            + States.oneEndpointService("b", "172.30.0.2", b)
            + States.oneEndpointService("c", "172.30.0.3", c));
  }

  private IptablesProxier proxier() {
    return new IptablesProxier(
        new IptablesKernel(runner),
        ProxyConfig.defaults("n1", "192.168.0.2", LocalTrafficDetector.none()),
        IptablesOptions.defaults());
  }

  private List<RecordingCommandRunner.Call> restores() {
    return runner.calls().stream().filter(c -> c.argv().get(0).equals("iptables-restore")).toList();
  }

  private List<RecordingCommandRunner.Call> saves() {
    return runner.calls().stream().filter(c -> c.argv().get(0).equals("iptables-save")).toList();
  }

  /** The per-service chains (upstream's five prefixes) whose rules in an input mention text. */
  private static Set<String> chainsMentioning(String input, String text) {
    Set<String> out = new TreeSet<>();
    for (String l : input.lines().toList()) {
      String chain = l.startsWith("-A ") ? l.split(" ")[1] : "";
      if (chain.matches("KUBE-(SVC|SVL|EXT|FW|SEP)-.*") && l.contains(text)) {
        out.add(chain);
      }
    }
    return out;
  }

  /** The chains a restore input deletes. */
  private static Set<String> deletedIn(String input) {
    Set<String> out = new TreeSet<>();
    input.lines().filter(l -> l.startsWith("-X ")).forEach(l -> out.add(l.substring(3).strip()));
    return out;
  }

  @Test
  void sync_partialAfterFull_issuesNoIptablesSave() {
    IptablesProxier p = proxier();
    p.sync(state("10.0.1.1", "10.0.2.1", "10.0.3.1"), true, Set.of());
    assertThat(saves()).hasSize(1);
    runner.clear();
    p.sync(state("10.0.1.2", "10.0.2.1", "10.0.3.1"), false, Set.of("ns/a"));
    assertThat(saves()).isEmpty();
    // Only the changed service's chains are written; the shared chains are left as they are.
    assertThat(restores())
        .singleElement()
        .satisfies(
            c ->
                assertThat(c.stdin())
                    .contains("--to-destination 10.0.1.2:80")
                    .doesNotContain("10.0.2.1:80", "10.0.3.1:80")
                    // a's KUBE-SERVICES rule is unchanged: the shared chains are not rewritten.
                    .doesNotContain("ns/b:p cluster IP", ":KUBE-SERVICES"));
  }

  @Test
  void sync_serviceRemovedBetweenPartialSyncs_itsChainsDeletedWithoutSave() {
    IptablesProxier p = proxier();
    p.sync(state("10.0.1.1", "10.0.2.1", "10.0.3.1"), true, Set.of());
    String fullInput = restores().getLast().stdin();
    // c's chains as the full sync created them: its SVC chain (comment "ns/c:p ...") and SEP.
    Set<String> cChains = chainsMentioning(fullInput, "ns/c:p");
    assertThat(cChains).hasSize(2);
    assertThat(natChains).containsAll(cChains);
    // b's old endpoint chain: the chain whose rule DNATs to 10.0.2.1.
    Set<String> bOldSep = chainsMentioning(fullInput, "--to-destination 10.0.2.1:80");
    assertThat(bOldSep).hasSize(1);
    runner.clear();

    p.sync(state("10.0.1.1", "10.0.2.2", "10.0.3.1"), false, Set.of("ns/b"));
    assertThat(deletedIn(restores().getLast().stdin())).isEqualTo(bOldSep);

    ProxyState withoutC =
        States.fromYaml(
            States.oneEndpointService("a", "172.30.0.1", "10.0.1.1")
                + States.oneEndpointService("b", "172.30.0.2", "10.0.2.2"));
    p.sync(withoutC, false, Set.of("ns/c"));
    String partial = restores().getLast().stdin();
    assertThat(deletedIn(partial)).isEqualTo(cChains);
    for (String ch : cChains) {
      assertThat(partial).contains(":" + ch + " - [0:0]");
    }
    assertThat(saves()).isEmpty();
    assertThat(natChains).doesNotContainAnyElementsOf(cChains).doesNotContainAnyElementsOf(bOldSep);
    assertThat(natChains)
        .containsAll(chainsMentioning(fullInput, "ns/a:p"))
        .containsAll(chainsMentioning(partial, "ns/b:p"));
  }

  @Test
  void sync_afterFailedSync_nextSyncIsFullAndReadsTheKernel() {
    IptablesProxier p = proxier();
    p.sync(state("10.0.1.1", "10.0.2.1", "10.0.3.1"), true, Set.of());
    // A failure pinned on no service (the deletion of c's KUBE-SERVICES rule): the sync throws,
    // the kernel keeps what it had.
    poison.set("-D KUBE-SERVICES");
    ProxyState withoutC =
        States.fromYaml(
            States.oneEndpointService("a", "172.30.0.1", "10.0.1.2")
                + States.oneEndpointService("b", "172.30.0.2", "10.0.2.1"));
    assertThatThrownBy(() -> p.sync(withoutC, false, Set.of("ns/a", "ns/c")))
        .isInstanceOf(SyncException.class);
    poison.set(null);
    runner.clear();

    // Asked for a partial sync of b only, the proxier no longer trusts its record.
    p.sync(state("10.0.1.2", "10.0.2.2", "10.0.3.1"), false, Set.of("ns/b"));
    assertThat(saves()).hasSize(1);
    assertThat(runner.calls()).anyMatch(c -> c.line().endsWith("-t nat -N KUBE-PROXY-CANARY"));
    // a (refused last time) and b are written; c's chains the kernel holds as they are, and
    // KUBE-SERVICES too, whose rules are unchanged.
    assertThat(restores().getLast().stdin())
        .contains("10.0.1.2:80", "10.0.2.2:80")
        .doesNotContain("ns/c:p", "ns/b:p cluster IP");
    assertThat(lastAccepted())
        .contains("10.0.3.1:80", "ns/c:p cluster IP")
        .doesNotContain("10.0.1.1:80");

    // With the record rebuilt, the next partial sync trusts it again.
    runner.clear();
    p.sync(state("10.0.1.2", "10.0.2.3", "10.0.3.1"), false, Set.of("ns/b"));
    assertThat(saves()).isEmpty();
  }

  /** What the node holds after the last restore, which the fake kernel accepted. */
  private String lastAccepted() {
    List<RecordingCommandRunner.Call> ok =
        restores().stream().filter(c -> !c.stdin().contains(POISON)).toList();
    assertThat(ok).isNotEmpty();
    assertThat(restores().getLast()).isEqualTo(ok.getLast());
    return print("filter") + print("nat");
  }

  @Test
  void sync_kernelRefusesOneServiceNamingTheLine_othersApplyAndItIsExcluded() {
    IptablesProxier p = proxier();
    p.sync(state(POISON, "10.0.2.1", "10.0.3.1"), true, Set.of());
    String node = lastAccepted();
    assertThat(node).contains("10.0.2.1:80", "10.0.3.1:80", "ns/b:p cluster IP", "ns/c:p");
    assertThat(node).doesNotContain("ns/a:p");
    assertThat(p.excluded()).containsOnlyKeys(A);
    assertThat(p.excluded().get(A).reason())
        .contains("-A KUBE-SEP-")
        .contains("--to-destination " + POISON + ":80")
        .contains("RULE_APPEND failed");
    assertThat(p.excluded().get(A).keptPrevious()).isFalse();
    // The line pinned it at once: one refused restore, one accepted.
    assertThat(restores()).hasSize(2);
  }

  @Test
  void sync_legacyRefusesTableAtCommit_bisectionFindsTheService() {
    style.set(Style.LEGACY);
    IptablesProxier p = proxier();
    p.sync(state("10.0.1.1", POISON, "10.0.3.1"), true, Set.of());
    String node = lastAccepted();
    assertThat(node).contains("10.0.1.1:80", "10.0.3.1:80").doesNotContain("ns/b:p");
    assertThat(p.excluded()).containsOnlyKeys(new ServicePortName("ns", "b", "p", Protocol.TCP));
    assertThat(p.excluded().values().iterator().next().reason()).contains("line", "failed");
  }

  @Test
  void sync_noLineNamed_bisectionFindsTheService() {
    style.set(Style.NONE);
    IptablesProxier p = proxier();
    p.sync(state("10.0.1.1", "10.0.2.1", POISON), true, Set.of());
    assertThat(lastAccepted()).contains("10.0.1.1:80", "10.0.2.1:80").doesNotContain("ns/c:p");
    assertThat(p.excluded()).containsOnlyKeys(new ServicePortName("ns", "c", "p", Protocol.TCP));
  }

  @Test
  void sync_refusedChangeOfAppliedService_keepsItsPreviousRules() {
    IptablesProxier p = proxier();
    p.sync(state("10.0.1.1", "10.0.2.1", "10.0.3.1"), true, Set.of());
    runner.clear();
    // a moves to an endpoint the kernel refuses while b changes too, in one partial sync.
    p.sync(state(POISON, "10.0.2.2", "10.0.3.1"), false, Set.of("ns/a", "ns/b"));
    String node = lastAccepted();
    assertThat(node).contains("10.0.1.1:80", "10.0.2.2:80", "ns/a:p cluster IP");
    assertThat(p.excluded().get(A).keptPrevious()).isTrue();

    // A partial sync that does not touch a keeps it as it was, without trying it again.
    runner.clear();
    p.sync(state(POISON, "10.0.2.3", "10.0.3.1"), false, Set.of("ns/b"));
    assertThat(restores()).hasSize(1);
    assertThat(lastAccepted()).contains("ns/a:p cluster IP", "10.0.2.3:80");
    assertThat(p.excluded()).containsOnlyKeys(A);

    // The next full sync retries it; once the kernel takes it, it is no longer excluded.
    poison.set(null);
    runner.clear();
    p.sync(state(POISON, "10.0.2.3", "10.0.3.1"), true, Set.of());
    assertThat(restores().getLast().stdin()).contains(POISON + ":80");
    assertThat(p.excluded()).isEmpty();
  }

  @Test
  void sync_failureNotPinnedOnAService_throwsAndKeepsNothingExcluded() {
    // The fixed rules themselves are refused: no service is to blame.
    poison.set("-A KUBE-MARK-MASQ -j MARK");
    IptablesProxier p = proxier();
    assertThatThrownBy(() -> p.sync(state("10.0.1.1", "10.0.2.1", "10.0.3.1"), true, Set.of()))
        .isInstanceOf(SyncException.class)
        .hasMessageContaining("RULE_APPEND failed");
    assertThat(p.excluded()).isEmpty();
  }

  @Test
  void failedLine_realMessages_giveTheLineNumber() {
    assertThat(
            RestoreErrors.failedLine(
                "iptables-nft-restore v1.8.9 (nf_tables): \n"
                    + "line 6: RULE_APPEND failed (No such file or directory): rule in chain KUBE-B"))
        .hasValue(6);
    assertThat(RestoreErrors.failedLine("iptables-restore: line 11 failed")).hasValue(11);
    assertThat(
            RestoreErrors.failedLine(
                "iptables-restore v1.8.9 (legacy): recent: bad value for option \"--seconds\", or"
                    + " out of range (1-4294967295).\n\nError occurred at line: 6\n"))
        .hasValue(6);
    assertThat(RestoreErrors.failedLine("iptables-restore: unable to initialize table 'nat'"))
        .isEmpty();
  }

  @Test
  void owner_ruleLines_attributedToTheirServicePort() {
    ProxyState s = state("10.0.1.1", "10.0.2.1", "10.0.3.1");
    ServicePortName b = new ServicePortName("ns", "b", "p", Protocol.TCP);
    String top =
        "-A KUBE-SERVICES -m comment --comment \"ns/b:p cluster IP\" -m tcp -p tcp -d 172.30.0.2"
            + " --dport 80 -j "
            + dev.svcproxy.render.iptables.ChainNames.svc("ns/b:p", "tcp");
    assertThat(RestoreErrors.owner(top, s)).hasValue(b);
    String sep = dev.svcproxy.render.iptables.ChainNames.sep("ns/b:p", "tcp", "10.0.2.1:80");
    assertThat(RestoreErrors.owner("-A " + sep + " -s 10.0.2.1 -j KUBE-MARK-MASQ", s)).hasValue(b);
    assertThat(RestoreErrors.owner(":" + sep + " - [0:0]", s)).hasValue(b);
    assertThat(
            RestoreErrors.owner(
                "-A KUBE-SERVICES -m comment --comment \"ns/b:p has no endpoints\" -j REJECT", s))
        .hasValue(b);
    assertThat(RestoreErrors.owner("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000", s)).isEmpty();
    assertThat(RestoreErrors.owner("COMMIT", s)).isEmpty();
  }

  private static final ProxyConfig CFG =
      ProxyConfig.defaults("n1", "192.168.0.2", LocalTrafficDetector.none());

  /** Large-cluster mode above 4 endpoints, so a test can cross the threshold with a few. */
  private static final IptablesOptions SMALL_LARGE = new IptablesOptions(false, 4);

  /** Services a..e with one endpoint each (a: ep1), b with two endpoints when {@code twoB}. */
  private static ProxyState fiveServices(String aEndpoint, boolean twoB, boolean withE) {
    StringBuilder y = new StringBuilder(States.oneEndpointService("a", "172.30.0.1", aEndpoint));
    y.append(States.oneEndpointService("b", "172.30.0.2", "10.0.2.1"));
    y.append(States.oneEndpointService("c", "172.30.0.3", "10.0.3.1"));
    y.append(States.oneEndpointService("d", "172.30.0.4", "10.0.4.1"));
    if (withE) {
      y.append(States.oneEndpointService("e", "172.30.0.5", "10.0.5.1"));
    }
    ProxyState s = States.fromYaml(y.toString());
    if (!twoB) {
      return s;
    }
    ServicePortName b = new ServicePortName("ns", "b", "p", Protocol.TCP);
    Map<ServicePortName, List<dev.svcproxy.model.Endpoint>> eps = new java.util.HashMap<>();
    eps.putAll(s.endpoints());
    List<dev.svcproxy.model.Endpoint> two = new ArrayList<>(s.endpointsOf(b));
    two.add(dev.svcproxy.model.Endpoint.ready("10.0.2.9", 80, "n1"));
    eps.put(b, two);
    return new ProxyState(s.services(), eps);
  }

  /** The filter and nat tables a kernel holds after a full render of state into empty tables. */
  private static String fullRenderApplied(
      ProxyState state, dev.svcproxy.kernel.KernelCapabilities caps) {
    Map<String, Map<String, List<String>>> fresh = new TreeMap<>();
    apply(
        fresh,
        new dev.svcproxy.render.iptables.IptablesRenderer(CFG, SMALL_LARGE, caps)
            .render(state)
            .text());
    return print(fresh, "filter") + print(fresh, "nat");
  }

  @Test
  void sync_partialSyncSequence_kernelHoldsWhatAFullRenderWrites() {
    poison.set(null);
    IptablesProxier p = new IptablesProxier(new IptablesKernel(runner), CFG, SMALL_LARGE);
    // 4 endpoints: not large; b's second endpoint makes 5 (large), e's then 6, a's change keeps
    // it large, b back to one and e gone make 4 again (not large).
    List<ProxyState> states =
        List.of(
            fiveServices("10.0.1.1", false, false),
            fiveServices("10.0.1.2", false, false),
            fiveServices("10.0.1.2", true, false),
            fiveServices("10.0.1.2", true, true),
            fiveServices("10.0.1.3", true, true),
            fiveServices("10.0.1.3", false, false));
    List<Set<String>> changed =
        List.of(
            Set.of(),
            Set.of("ns/a"),
            Set.of("ns/b"),
            Set.of("ns/e"),
            Set.of("ns/a"),
            Set.of("ns/b", "ns/e"));
    p.sync(states.get(0), true, Set.of());
    for (int i = 1; i < states.size(); i++) {
      p.sync(states.get(i), false, changed.get(i));
      assertThat(print("filter") + print("nat"))
          .as("after partial sync %d", i)
          .isEqualTo(fullRenderApplied(states.get(i), p.capabilities()));
    }
    assertThat(saves()).hasSize(1);
  }

  @Test
  void sync_partialSync_rendersOnlyTheChangedServicePorts() {
    poison.set(null);
    IptablesProxier p = new IptablesProxier(new IptablesKernel(runner), CFG, SMALL_LARGE);
    p.sync(fiveServices("10.0.1.1", false, false), true, Set.of());
    assertThat(p.portRenders()).isEqualTo(4);
    // One service changed: it alone is rendered, the three others reused.
    p.sync(fiveServices("10.0.1.2", false, false), false, Set.of("ns/a"));
    assertThat(p.portRenders()).isEqualTo(5);
    // A service added crosses the large-cluster threshold (5 endpoints), which changes every
    // port's rules: all five rendered.
    p.sync(fiveServices("10.0.1.2", false, true), false, Set.of("ns/e"));
    assertThat(p.portRenders()).isEqualTo(10);
    // Two changed in large mode: those two only.
    p.sync(fiveServices("10.0.1.3", true, true), false, Set.of("ns/a", "ns/b"));
    assertThat(p.portRenders()).isEqualTo(12);
    // A service removed: nothing rendered.
    ProxyState noE = fiveServices("10.0.1.3", true, false);
    p.sync(noE, false, Set.of("ns/e"));
    assertThat(p.portRenders()).isEqualTo(12);
    assertThat(print("filter") + print("nat")).isEqualTo(fullRenderApplied(noE, p.capabilities()));
  }

  @Test
  void portsOf_neighbouringNames_onlyThatServicesPorts() {
    java.util.SortedMap<ServicePortName, String> m = new TreeMap<>();
    for (String[] p :
        List.of(
            new String[] {"ns", "x", ""},
            new String[] {"ns", "x", "a"},
            new String[] {"ns", "x", "b"},
            new String[] {"ns", "x-y", ""},
            new String[] {"ns", "xa", "a"},
            new String[] {"ns", "w", "z"},
            new String[] {"ns2", "x", "a"},
            new String[] {"n", "s/x", "a"})) {
      for (Protocol proto : Protocol.values()) {
        ServicePortName spn = new ServicePortName(p[0], p[1], p[2], proto);
        m.put(spn, spn.toString());
      }
    }
    assertThat(IptablesProxier.portsOf(m, "ns/x").keySet())
        .hasSize(3 * Protocol.values().length)
        .allMatch(spn -> spn.namespace().equals("ns") && spn.name().equals("x"));
    assertThat(IptablesProxier.portsOf(m, "ns/q")).isEmpty();
  }
}
