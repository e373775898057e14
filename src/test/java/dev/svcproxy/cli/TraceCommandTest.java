package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.testutil.States;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TraceCommandTest {
  @TempDir static Path bundle;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  @BeforeAll
  static void writeBundle() throws Exception {
    var rendered =
        OverallRulesTestAccess.renderer()
            .render(States.fromYaml(States.resource("/golden/overall/input.yaml")))
            .restoreInput();
    Files.writeString(bundle.resolve("iptables-save.txt"), JumpRules.onNode(rendered).print());
    Files.writeString(bundle.resolve("ip-addr.json"), dev.svcproxy.trace.TracerTestAccess.ADDR);
    Files.writeString(bundle.resolve("ip-route.json"), dev.svcproxy.trace.TracerTestAccess.ROUTES);
  }

  private int run(String... args) {
    return Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
  }

  @Test
  void delivered_exitsZeroAndPrintsSteps() {
    assertThat(
            run(
                "trace",
                "--bundle",
                bundle.toString(),
                "--src",
                "10.0.1.5",
                "--dst",
                "172.30.0.41:80"))
        .isEqualTo(0);
    assertThat(out.toString())
        .contains("outcome 1 of 1: delivered")
        .contains("KUBE-SVC-XPGD46QRK7WJZT7O")
        .contains("DNAT to 10.180.0.1:80");
  }

  @Test
  void rejected_exitsOne() {
    assertThat(
            run(
                "trace",
                "--bundle",
                bundle.toString(),
                "--src",
                "10.0.1.5",
                "--dst",
                "172.30.0.46:80"))
        .isEqualTo(1);
    assertThat(out.toString()).contains("REJECTED");
  }

  @Test
  void json_hasTheDocumentedFields() throws Exception {
    assertThat(
            run(
                "trace",
                "--bundle",
                bundle.toString(),
                "--src",
                "10.0.1.5",
                "--dst",
                "172.30.0.44:80",
                "-o",
                "json"))
        .isEqualTo(0);
    JsonNode root = new ObjectMapper().readTree(out.toString());
    assertThat(root.path("outcomes")).hasSize(2);
    JsonNode o = root.path("outcomes").get(0);
    for (String f :
        new String[] {
          "probability", "verdict", "dnat", "snat", "masquerade", "delivery", "steps"
        }) {
      assertThat(o.has(f)).as(f).isTrue();
    }
    assertThat(o.path("probability").asDouble()).isEqualTo(0.5);
    assertThat(o.path("steps").get(0).has("hook")).isTrue();
    assertThat(root.has("warnings")).isTrue();
    assertThat(root.path("verdict").asText()).isEqualTo("ACCEPT");
    assertThat(o.path("verdict").asText()).isEqualTo("ACCEPT");
    assertThat(o.has("reasonCode")).isTrue();
    assertThat(o.path("reasonCode").isNull()).isTrue();
    assertThat(o.path("steps").get(0).path("kind").asText()).isEqualTo("PACKET");
    assertThat(o.path("reply").has("reasonCode")).isTrue();
  }

  @Test
  void json_rejected_carriesTheReasonCodeAndTheRule() throws Exception {
    assertThat(
            run(
                "trace",
                "--bundle",
                bundle.toString(),
                "--src",
                "10.0.1.5",
                "--dst",
                "172.30.0.46:80",
                "-o",
                "json"))
        .isEqualTo(1);
    JsonNode root = new ObjectMapper().readTree(out.toString());
    assertThat(root.path("verdict").asText()).isEqualTo("REJECT");
    JsonNode o = root.path("outcomes").get(0);
    assertThat(o.path("verdict").asText()).isEqualTo("REJECT");
    assertThat(o.path("reasonCode").asText()).isEqualTo("NO_ENDPOINTS");
    JsonNode steps = o.path("steps");
    JsonNode last = steps.get(steps.size() - 1);
    assertThat(last.path("kind").asText()).isEqualTo("TARGET");
    assertThat(last.path("reasonCode").asText()).isEqualTo("NO_ENDPOINTS");
    assertThat(last.path("table").asText()).isEqualTo("filter");
    assertThat(last.path("chain").asText()).isEqualTo("KUBE-SERVICES");
    assertThat(last.path("rule").asInt()).isPositive();
    assertThat(last.path("text").asText()).contains("has no endpoints");
  }

  @Test
  void text_rejected_namesTheReasonCode() {
    assertThat(
            run(
                "trace",
                "--bundle",
                bundle.toString(),
                "--src",
                "10.0.1.5",
                "--dst",
                "172.30.0.46:80"))
        .isEqualTo(1);
    assertThat(out.toString()).contains("outcome 1 of 1: REJECTED (NO_ENDPOINTS), probability");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "--dst 10.0.0.1",
        "--dst 10.0.0.300:80",
        "--dst 10.0.0.1:80 --proto gre",
        "--dst 10.0.0.1:80 -o yaml",
        "--dst 10.0.0.1:80 --src nope"
      })
  void badInput_exitsTwo(String extra) {
    String[] args = ("trace --bundle " + bundle + " " + extra).split(" ");
    assertThat(run(args)).isEqualTo(2);
    assertThat(err.toString()).startsWith("svcproxy: ");
  }

  @Test
  void missingBundle_exitsTwo() {
    assertThat(run("trace", "--bundle", "/nonexistent", "--dst", "10.0.0.1:80")).isEqualTo(2);
  }

  @Test
  void liveNetnsThatDoesNotExist_exitsTwoNamingIt() {
    assertThat(
            run("trace", "--live", "--netns", "svcproxy-no-such-netns-h3", "--dst", "10.0.0.1:80"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("svcproxy-no-such-netns-h3");
  }

  @Test
  void captureNetnsThatDoesNotExist_exitsTwoNamingIt(@TempDir Path dir) {
    assertThat(
            run(
                "capture",
                "--netns",
                "svcproxy-no-such-netns-h3",
                "--out",
                dir.resolve("b").toString()))
        .isEqualTo(2);
    assertThat(err.toString()).contains("svcproxy-no-such-netns-h3");
    assertThat(dir.resolve("b")).doesNotExist();
  }

  @Test
  void parseWarnings_areInTheTextAndInTheJsonWarnings(@TempDir Path dir) throws Exception {
    Files.writeString(
        dir.resolve("iptables-save.txt"),
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport abc -j DROP\n");
    Files.writeString(dir.resolve("sysctl.txt"), "net.ipv4.conf.all.rp_filter = x\n");
    Files.writeString(dir.resolve("ip-addr.json"), dev.svcproxy.trace.TracerTestAccess.ADDR);
    String[] args = {
      "trace", "--bundle", dir.toString(), "--src", "10.0.1.5", "--dst", "192.168.0.2:80"
    };

    assertThat(run(args)).isEqualTo(0);
    assertThat(out.toString())
        .contains("iptables-save.txt:3: not a port number: \"abc\"")
        .contains("iptables-save.txt:3: table filter has no COMMIT")
        .contains("sysctl.txt:1: net.ipv4.conf.all.rp_filter = x");

    out.getBuffer().setLength(0);
    String[] json = java.util.Arrays.copyOf(args, args.length + 2);
    json[args.length] = "-o";
    json[args.length + 1] = "json";
    assertThat(run(json)).isEqualTo(0);
    JsonNode w = new ObjectMapper().readTree(out.toString()).path("warnings");
    java.util.List<String> ws = new java.util.ArrayList<>();
    w.forEach(n -> ws.add(n.asText()));
    assertThat(ws)
        .anyMatch(s -> s.startsWith("iptables-save.txt:3: not a port number: \"abc\""))
        .anyMatch(s -> s.startsWith("iptables-save.txt:3: table filter has no COMMIT"))
        .anyMatch(s -> s.startsWith("sysctl.txt:1: "));
  }

  @Test
  void netnsWithoutLive_exitsTwo() {
    assertThat(run("trace", "--bundle", bundle.toString(), "--netns", "x", "--dst", "10.0.0.1:80"))
        .isEqualTo(2);
  }
}
