package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.testutil.States;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Upstream's packet-flow cases for the TestOverallIPTablesRules ruleset (TestTracePacket), run
 * through our tracer on our rendered rules: the tracer as a second oracle for the renderer.
 */
class UpstreamPacketFlowTest {
  private static final NodeState NODE =
      BundleReader.fromFiles(
          Map.of(
              "iptables-save.txt",
              JumpRules.onNode(
                      OverallRulesTestAccess.renderer()
                          .render(States.fromYaml(States.resource("/golden/overall/input.yaml")))
                          .restoreInput())
                  .print(),
              "ip-addr.json",
              TracerTest.ADDR,
              "ip-route.json",
              TracerTest.ROUTES,
              "sysctl.txt",
              "net.ipv4.ip_forward = 1\n"));

  /**
   * output: endpoints (space-separated), DROP, REJECT, ACCEPT (delivered locally), or - (no
   * rewrite).
   */
  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "no match,                    10.0.0.2,     10.0.0.3,      80,    -,                          false",
    "single endpoint,             10.0.0.2,     172.30.0.41,   80,    10.180.0.1:80,              false",
    "multiple endpoints,          10.0.0.2,     172.30.0.44,   80,    10.180.0.4:80 10.180.0.5:80, false",
    "'LOCAL, KUBE-MARK-MASQ',     192.168.0.2,  192.168.99.22, 80,    10.180.0.2:80,              true",
    "DROP,                        203.0.113.2,  192.168.99.22, 80,    DROP,                       false",
    "ACCEPT (NodePortHealthCheck), 192.168.0.2, 192.168.0.2,   30000, ACCEPT,                     false",
    "REJECT,                      10.0.0.2,     172.30.0.46,   80,    REJECT,                     false"
  })
  void upstreamCase_sameOutcome(
      String name, String src, String dst, int port, String output, boolean masq) {
    TraceResult r = new Tracer(NODE).trace(new PacketSpec(src, 40000, dst, port, "tcp", null));
    List<Outcome> os = r.outcomes();
    switch (output) {
      case "DROP", "REJECT" ->
          assertThat(os).extracting(o -> o.verdict().name()).containsOnly(output);
      case "ACCEPT" ->
          assertThat(os)
              .singleElement()
              .satisfies(
                  o -> {
                    assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
                    assertThat(o.delivery()).isEqualTo("local");
                  });
      case "-" ->
          assertThat(os)
              .singleElement()
              .satisfies(
                  o -> {
                    assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
                    assertThat(o.dnat()).isNull();
                  });
      default -> {
        assertThat(os)
            .allSatisfy(
                o -> {
                  assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
                  assertThat(o.masquerade()).isEqualTo(masq);
                });
        assertThat(new TreeSet<>(os.stream().map(Outcome::dnat).toList()))
            .containsExactlyElementsOf(new TreeSet<>(Arrays.asList(output.split(" "))));
      }
    }
  }
}
