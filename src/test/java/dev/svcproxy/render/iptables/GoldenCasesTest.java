package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.svcproxy.cli.ProxyOptionsAccess;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.testutil.FakeNode;
import dev.svcproxy.testutil.GoldenUpdate;
import dev.svcproxy.testutil.States;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One golden file per service case: the manifests and flags of a case render to exactly its
 * expected.txt. Run with -Dgolden.update=true to rewrite the files after a deliberate change, then
 * review the diff line by line against upstream's proxier.
 */
class GoldenCasesTest {
  private static final Path DIR = Path.of("src/test/resources/golden/cases");

  static Stream<String> cases() throws IOException {
    try (Stream<Path> s = Files.list(DIR)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList().stream();
    }
  }

  private static RenderResult render(String name) throws IOException {
    return renderer(name).render(state(name));
  }

  /** The case's manifests as a snapshot. */
  static ProxyState state(String name) throws IOException {
    return States.fromYaml(Files.readString(DIR.resolve(name).resolve("input.yaml")));
  }

  /** The case's expected restore text. */
  static String expected(String name) throws IOException {
    return Files.readString(DIR.resolve(name).resolve("expected.txt"));
  }

  /** The renderer of a case, configured from its flags as render would. */
  static IptablesRenderer renderer(String name) throws IOException {
    Path dir = DIR.resolve(name);
    List<String> flags =
        new ArrayList<>(List.of("--manifests", dir.resolve("input.yaml").toString()));
    flags.addAll(List.of("--node-name", "test-node"));
    String extra = Files.readString(dir.resolve("flags")).strip();
    if (!extra.isEmpty()) {
      flags.addAll(Arrays.asList(extra.split("\\s+")));
    }
    return ProxyOptionsAccess.renderer(flags, FakeNode.runner(), KernelCapabilities.none());
  }

  @ParameterizedTest
  @MethodSource("cases")
  void render_case_equalsGoldenFile(String name) throws IOException {
    String rendered = render(name).text();
    Path expected = DIR.resolve(name).resolve("expected.txt");
    if (GoldenUpdate.requested()) {
      Files.writeString(expected, rendered);
    }
    assertThat(rendered).isEqualTo(Files.readString(expected));
  }

  /*
   * The golden files above are snapshots of our own output. What makes them right is below: each
   * case's scenarios.txt lists packets and what Kubernetes says happens to them, written by hand
   * (and copied from upstream's packet-flow tests in pkg/proxy/iptables/proxier_test.go, named on
   * its "upstream:" line, where one covers the case). The tracer walks each packet through the
   * rendered rules on a node like upstream's test node.
   */

  /** Upstream's test node: 192.168.0.2 (+ 192.168.1.2) on eth0, pods on cni0 and veth1. */
  static final String NODE_ADDR =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.0.2\",\"prefixlen\":24},"
          + "{\"family\":\"inet\",\"local\":\"192.168.1.2\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.0.1\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"veth1\",\"flags\":[\"UP\"],\"addr_info\":[]}]";

  static final String NODE_ROUTES =
      """
      default via 192.168.0.1 dev eth0
      192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.2
      192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.2
      10.0.0.0/24 dev cni0 proto kernel scope link src 10.0.0.1
      10.180.0.0/24 dev cni0 scope link
      10.0.5.0/24 dev veth1 scope link
      local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
      local 192.168.0.2 dev eth0 table local proto kernel scope host src 192.168.0.2
      local 192.168.1.2 dev eth0 table local proto kernel scope host src 192.168.1.2
      local 10.0.0.1 dev cni0 table local proto kernel scope host src 10.0.0.1
      """;

  /** One line of a scenarios.txt: name | from[@iface] | to ip:port | expect | masqueraded. */
  record Scenario(
      String caseName, String name, String from, String to, String expect, String masq) {
    @Override
    public String toString() {
      return caseName + ": " + name;
    }
  }

  static List<String> upstreamLine(String caseName) throws IOException {
    return Files.readAllLines(DIR.resolve(caseName).resolve("scenarios.txt")).stream()
        .filter(l -> l.startsWith("upstream:"))
        .toList();
  }

  static Stream<Scenario> scenarios() throws IOException {
    List<Scenario> out = new ArrayList<>();
    for (String c : cases().toList()) {
      for (String line : Files.readAllLines(DIR.resolve(c).resolve("scenarios.txt"))) {
        if (line.isBlank() || line.startsWith("#") || line.startsWith("upstream:")) {
          continue;
        }
        String[] f = line.split("\\|", -1);
        if (f.length != 5) {
          throw new IllegalArgumentException(c + "/scenarios.txt: not 5 fields: " + line);
        }
        out.add(
            new Scenario(c, f[0].strip(), f[1].strip(), f[2].strip(), f[3].strip(), f[4].strip()));
      }
    }
    return out.stream();
  }

  @ParameterizedTest
  @MethodSource("cases")
  void scenarios_everyCase_hasScenariosTiedToUpstream(String name) throws IOException {
    assertThat(upstreamLine(name)).as("%s/scenarios.txt names its upstream test", name).hasSize(1);
    assertThat(upstreamLine(name).get(0))
        .as("an upstream test function, or 'none' with the reason")
        .matches("upstream: (Test[A-Za-z]+.*|none \\(.+\\))");
    assertThat(scenarios().filter(s -> s.caseName().equals(name)).count())
        .as("%s has packet scenarios", name)
        .isGreaterThanOrEqualTo(2);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("scenarios")
  void trace_caseScenario_matchesKubernetesSemantics(Scenario s) throws IOException {
    NodeState node =
        BundleReader.fromFiles(
            Map.of(
                "iptables-save.txt",
                JumpRules.onNode(render(s.caseName()).restoreInput()).print(),
                "ip-addr.json",
                NODE_ADDR,
                "ip-route.json",
                NODE_ROUTES,
                "sysctl.txt",
                "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.route_localnet = 1\n"));
    String[] from = s.from().split("@");
    int colon = s.to().lastIndexOf(':');
    TraceResult r =
        new Tracer(node)
            .trace(
                new PacketSpec(
                    from[0],
                    40000,
                    s.to().substring(0, colon),
                    Integer.parseInt(s.to().substring(colon + 1)),
                    "tcp",
                    from.length > 1 ? from[1] : null));
    List<Outcome> os = r.outcomes();
    assertThat(os).as("outcomes").isNotEmpty();
    assertThat(os.stream().mapToDouble(Outcome::probability).sum())
        .as("probabilities")
        .isCloseTo(1.0, within(1e-9));
    switch (s.expect()) {
      case "DROP", "REJECT" ->
          assertThat(os)
              .extracting(o -> o.verdict().name())
              .as("verdicts")
              .containsOnly(s.expect());
      case "ACCEPT" ->
          assertThat(os)
              .allSatisfy(
                  o -> {
                    assertThat(o.verdict()).isEqualTo(dev.svcproxy.trace.Verdict.ACCEPT);
                    assertThat(o.delivery()).as("delivered to the node").isEqualTo("local");
                    assertThat(o.dnat()).as("not rewritten").isNull();
                  });
      case "-" ->
          assertThat(os)
              .allSatisfy(
                  o -> {
                    assertThat(o.verdict()).isEqualTo(dev.svcproxy.trace.Verdict.ACCEPT);
                    assertThat(o.dnat()).as("not a Service packet: not rewritten").isNull();
                  });
      default -> {
        List<String> eps = Arrays.asList(s.expect().split("\\s+"));
        Map<String, Double> share = new TreeMap<>();
        for (Outcome o : os) {
          assertThat(o.verdict())
              .as("verdict of " + o.dnat())
              .isEqualTo(dev.svcproxy.trace.Verdict.ACCEPT);
          assertThat(o.dnat()).as("rewritten to an endpoint").isNotNull();
          share.merge(o.dnat(), o.probability(), Double::sum);
          boolean masq =
              s.masq().equals("all") || !s.masq().equals("none") && s.masq().contains(o.dnat());
          assertThat(o.masquerade()).as("masquerade of the path to " + o.dnat()).isEqualTo(masq);
        }
        assertThat(share.keySet()).as("endpoints").containsExactlyInAnyOrderElementsOf(eps);
        // Every endpoint a Service may use gets the same share of new connections.
        share.forEach(
            (ep, p) ->
                assertThat(p).as("share of " + ep).isCloseTo(1.0 / eps.size(), within(1e-6)));
      }
    }
  }
}
