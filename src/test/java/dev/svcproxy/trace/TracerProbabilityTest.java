package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.testutil.States;
import dev.svcproxy.trace.engine.Tracer;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Services of 3, 4 and 5 endpoints rendered by our renderer and traced as the kernel sees them:
 * libxt_statistic stores --probability as lround(p * 2^31) in a u32, xt_statistic matches when a
 * 31-bit random number is below it, and iptables-save prints the stored value back with %.11f.
 */
class TracerProbabilityTest {

  /**
   * What iptables-save printed for rules restored with our renderer's 1/k (iptables v1.8.9, both
   * backends, in a throw-away namespace): the kernel's value of 1/k.
   */
  private static final Map<Integer, String> KERNEL_PRINTS =
      Map.of(
          2, "0.50000000000",
          3, "0.33333333349",
          4, "0.25000000000",
          5, "0.20000000019");

  /**
   * Each rule's probability is 1/k off by at most 5e-11 (ten printed decimals) plus 2^-32 (the
   * kernel's rounding to a multiple of 2^-31); an outcome is a product of at most n such factors,
   * so it is 1/n within n times that.
   */
  private static double bound(int n) {
    return n * (5e-11 + 0x1p-32);
  }

  private static String yaml(int n) {
    String addresses =
        IntStream.rangeClosed(1, n)
            .mapToObj(i -> "{addresses: [10.180.0." + i + "]}")
            .collect(Collectors.joining(", "));
    return """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns1, name: svc1}
        spec:
          type: ClusterIP
          clusterIP: 172.30.1.1
          ports: [{name: p80, port: 80, protocol: TCP}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns1, name: svc1-1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv4
        endpoints: [%s]
        ports: [{name: p80, port: 80, protocol: TCP}]
        """
        .formatted(addresses);
  }

  private static String rendered(int n) {
    return JumpRules.onNode(
            OverallRulesTestAccess.renderer().render(States.fromYaml(yaml(n))).restoreInput())
        .print();
  }

  private static TraceResult trace(String rules) {
    return new Tracer(TraceNodes.node(rules, Map.of()))
        .trace(new PacketSpec("10.0.1.5", 40000, "172.30.1.1", 80, "tcp", "cni0"));
  }

  /** The rule number at which an outcome's path jumped from the service chain to its endpoint. */
  private static int endpointRule(Outcome o) {
    return o.steps().stream()
        .filter(s -> s.chain().startsWith("KUBE-SVC-") && s.effect().startsWith("jump KUBE-SEP-"))
        .mapToInt(Step::rule)
        .findFirst()
        .orElseThrow();
  }

  /** The outcome of the service chain's first endpoint rule: its probability is that rule's own. */
  private static Outcome firstRule(TraceResult r) {
    return r.outcomes().stream()
        .min(java.util.Comparator.comparingInt(TracerProbabilityTest::endpointRule))
        .orElseThrow();
  }

  @ParameterizedTest(name = "{0} endpoints")
  @ValueSource(ints = {3, 4, 5})
  void renderedService_nEndpoints_eachOneNthWithinTheKernelsRounding(int n) {
    TraceResult r = trace(rendered(n));
    assertThat(r.outcomes()).hasSize(n);
    assertThat(r.outcomes())
        .extracting(Outcome::dnat)
        .containsExactlyInAnyOrderElementsOf(
            IntStream.rangeClosed(1, n).mapToObj(i -> "10.180.0." + i + ":80").toList());
    assertThat(r.outcomes())
        .allSatisfy(o -> assertThat(o.probability()).isCloseTo(1.0 / n, within(bound(n))));
    assertThat(TraceNodes.total(r)).isCloseTo(1.0, within(1e-12));
    // The first rule's outcome is exactly the kernel's stored value, as iptables-save prints it.
    assertThat(String.format(Locale.ROOT, "%.11f", firstRule(r).probability()))
        .isEqualTo(KERNEL_PRINTS.get(n));
  }

  @ParameterizedTest(name = "{0} endpoints")
  @ValueSource(ints = {3, 4, 5})
  void printedBackByIptablesSave_sameProbabilitiesAsRendered(int n) {
    String rules = rendered(n);
    String savedBack = rules;
    for (int k = 2; k <= 5; k++) {
      savedBack =
          savedBack.replace(
              "--probability " + String.format(Locale.ROOT, "%.10f", 1.0 / k) + " ",
              "--probability " + KERNEL_PRINTS.get(k) + " ");
    }
    assertThat(savedBack).isNotEqualTo(rules);
    List<Double> a = trace(rules).outcomes().stream().map(Outcome::probability).sorted().toList();
    List<Double> b =
        trace(savedBack).outcomes().stream().map(Outcome::probability).sorted().toList();
    assertThat(b).isEqualTo(a);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "'--every 3 --packet 0',   0.3333333333333333",
    "'! --every 3 --packet 0', 0.6666666666666667",
    "'--every 1 --packet 0',   1.0"
  })
  void nthMode_unknownCounter_oneInEveryN(String every, double dropped) {
    String rules =
        """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m statistic --mode nth %s -j DROP
        COMMIT
        """
            .formatted(every);
    TraceResult r =
        new Tracer(TraceNodes.node(rules, Map.of()))
            .trace(new PacketSpec("10.0.1.5", 40000, "10.0.2.7", 80, "tcp", "cni0"));
    double p =
        r.outcomes().stream()
            .filter(o -> o.verdict() == Verdict.DROP)
            .mapToDouble(Outcome::probability)
            .sum();
    assertThat(p).isCloseTo(dropped, within(1e-12));
    assertThat(TraceNodes.total(r)).isCloseTo(1.0, within(1e-12));
  }
}
