package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.svcproxy.trace.engine.Tracer;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The number of outcomes stays bounded however many statistic paths a ruleset has. The timeouts are
 * hang guards only (the enumeration used to grow as 2^n); speed is measured by TraceBenchmark.
 */
class TracerBoundTest {
  private static final Duration HANG_GUARD = Duration.ofSeconds(120);

  /** {@code n} chained 50% rules in nat PREROUTING, each with {@code target(i)}. */
  private static String chained(int n, java.util.function.IntFunction<String> target) {
    StringBuilder b =
        new StringBuilder(
            """
            *nat
            :PREROUTING ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            :KUBE-MARK-MASQ - [0:0]
            """);
    for (int i = 0; i < n; i++) {
      b.append("-A PREROUTING -m statistic --mode random --probability 0.50000000000 -j ")
          .append(target.apply(i))
          .append('\n');
    }
    b.append(
        """
        -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
        -A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
        COMMIT
        """);
    return b.toString();
  }

  private static TraceResult forward(Tracer t) {
    return t.trace(new PacketSpec("10.0.1.5", 40000, "10.0.2.7", 80, "tcp", "cni0"));
  }

  @Test
  void sixteenChainedHalfRules_sameStateAfterEach_mergedToTwoExactOutcomes() {
    NodeState n = TraceNodes.node(chained(16, i -> "KUBE-MARK-MASQ"), Map.of());
    TraceResult r = assertTimeoutPreemptively(HANG_GUARD, () -> forward(new Tracer(n)));
    // By hand: 0.5 is stored as 2^30 exactly, so each rule matches with probability 1/2; the packet
    // leaves unmarked (not masqueraded) only if all 16 miss: 2^-16; any match marks it.
    assertThat(r.outcomes()).hasSize(2);
    assertThat(r.outcomes())
        .filteredOn(Outcome::masquerade)
        .singleElement()
        .satisfies(o -> assertThat(o.probability()).isCloseTo(1 - 0x1p-16, within(1e-15)));
    assertThat(r.outcomes())
        .filteredOn(o -> !o.masquerade())
        .singleElement()
        .satisfies(o -> assertThat(o.probability()).isCloseTo(0x1p-16, within(1e-15)));
  }

  @Test
  void sixteenChainedHalfRules_distinctMarks_boundedAndTotalProbabilityOne() {
    // Each rule sets its own bit: 2^16 distinct states, which merging cannot collapse.
    String rules =
        chained(16, i -> String.format(Locale.ROOT, "MARK --or-mark 0x%x", 1 << (i + 16)));
    NodeState n = TraceNodes.node(rules, Map.of());
    TraceResult r = assertTimeoutPreemptively(HANG_GUARD, () -> forward(new Tracer(n)));
    assertThat(r.outcomes().size()).isLessThanOrEqualTo(Tracer.DEFAULT_MAX_OUTCOMES + 1);
    assertThat(TraceNodes.total(r)).isCloseTo(1.0, within(1e-9));
    assertThat(r.warnings()).anyMatch(w -> w.contains("summarised"));
    assertThat(r.warnings()).anyMatch(w -> w.contains("not followed"));
  }

  @Test
  void sixteenChainedHalfRules_smallLimit_boundedByTheConfiguredLimit() {
    String rules =
        chained(16, i -> String.format(Locale.ROOT, "MARK --or-mark 0x%x", 1 << (i + 16)));
    TraceResult r =
        assertTimeoutPreemptively(
            HANG_GUARD, () -> forward(new Tracer(TraceNodes.node(rules, Map.of()), 10)));
    assertThat(r.outcomes().size()).isLessThanOrEqualTo(11);
    assertThat(TraceNodes.total(r)).isCloseTo(1.0, within(1e-9));
  }

  /** A kube-proxy style service chain of {@code n} endpoints, 1/n each. */
  private static String service(int n) {
    StringBuilder decl =
        new StringBuilder(
            """
            *nat
            :PREROUTING ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            :KUBE-SVC-BIG - [0:0]
            """);
    StringBuilder rules =
        new StringBuilder(
            "-A PREROUTING -d 10.96.0.50/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-BIG\n");
    for (int i = 0; i < n; i++) {
      decl.append(":KUBE-SEP-").append(i).append(" - [0:0]\n");
      rules.append("-A KUBE-SVC-BIG ");
      if (i < n - 1) {
        rules.append(
            String.format(
                Locale.ROOT, "-m statistic --mode random --probability %.10f ", 1.0 / (n - i)));
      }
      rules.append("-j KUBE-SEP-").append(i).append('\n');
      rules.append(
          String.format(
              Locale.ROOT,
              "-A KUBE-SEP-%d -p tcp -m tcp -j DNAT --to-destination 10.1.%d.%d:80%n",
              i,
              i / 250,
              i % 250 + 1));
    }
    return decl + rules.toString() + "COMMIT\n";
  }

  @Test
  void serviceOf1500Endpoints_pastTheLimit_oneSummaryFoldingEveryEndpoint() {
    NodeState n = TraceNodes.node(service(1500), Map.of());
    TraceResult r =
        assertTimeoutPreemptively(
            HANG_GUARD,
            () ->
                new Tracer(n)
                    .trace(new PacketSpec("10.0.1.5", 40000, "10.96.0.50", 80, "tcp", "cni0")));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.folded()).isEqualTo(1500);
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.probability()).isCloseTo(1.0, within(1e-9));
            });
    assertThat(r.warnings()).anyMatch(w -> w.contains("1500 outcomes") && w.contains("summarised"));
  }

  @Test
  void serviceOf1500Endpoints_underARaisedLimit_everyEndpointItsOwnOutcome() {
    NodeState n = TraceNodes.node(service(1500), Map.of());
    TraceResult r =
        assertTimeoutPreemptively(
            HANG_GUARD,
            () ->
                new Tracer(n, 2000)
                    .trace(new PacketSpec("10.0.1.5", 40000, "10.96.0.50", 80, "tcp", "cni0")));
    assertThat(r.outcomes()).hasSize(1500);
    assertThat(r.outcomes()).allSatisfy(o -> assertThat(o.folded()).isZero());
    // 1/1500 each, within the kernel's rounding of 1499 probabilities (each off by at most
    // 2^-32 + the 5e-11 of printing ten decimals).
    assertThat(r.outcomes())
        .allSatisfy(o -> assertThat(o.probability()).isCloseTo(1.0 / 1500, within(1500 * 3e-10)));
    assertThat(TraceNodes.total(r)).isCloseTo(1.0, within(1e-9));
  }
}
