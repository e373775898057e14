package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.testutil.States;
import dev.svcproxy.testutil.UpstreamOrder;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MainTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
  }

  private static String overallInput() throws URISyntaxException {
    return Path.of(MainTest.class.getResource("/golden/overall/input.yaml").toURI()).toString();
  }

  @Test
  void render_overallInputs_printsRestoreInputThatMatchesUpstream() throws Exception {
    int code =
        run(
            "render",
            "--mode",
            "iptables",
            "--manifests",
            overallInput(),
            "--node-name",
            "test-node",
            "--node-ip",
            "192.168.0.2",
            "--cluster-cidr",
            "10.0.0.0/8",
            "--kernel-capabilities",
            "nfacct-localhost-nodeports,nfacct-invalid-dropped");
    assertThat(code).isEqualTo(0);
    // Upstream's test proxier has both nfacct counters and no --random-fully, as stated above.
    String expected = States.resource("/golden/overall/expected.txt");
    assertThat(UpstreamOrder.sort(out.toString())).isEqualTo(UpstreamOrder.sort(expected));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "render --manifests X --node-name n --cluster-cidr 10.0.0.0/33",
        "render --manifests X --node-name n --detect-local-mode Foo",
        "render --manifests X --node-name n --detect-local-mode BridgeInterface",
        "render --manifests X --node-name n --masquerade-bit 40",
        "render --manifests X --node-name n --mode userspace",
        "render --manifests /nonexistent/dir --node-name n",
        "render --manifests X --hostname-override",
        "render --manifests X --node-name n --bogus-flag"
      })
  void badInput_exitsTwoWithOneLine(String line) throws Exception {
    String[] args = line.replace("X", overallInput()).split(" ");
    assertThat(run(args)).isEqualTo(2);
    assertThat(err.toString().strip().lines()).hasSize(1);
    assertThat(err.toString())
        .startsWith("svcproxy: ")
        .doesNotContain("Exception")
        .doesNotContain("\tat ");
  }

  @Test
  void noSubcommand_exitsTwo() {
    assertThat(run()).isEqualTo(2);
  }

  @ParameterizedTest
  @ValueSource(strings = {"render", "run", "cleanup", "lab"})
  void help_everySubcommand_printsUsage(String sub) {
    assertThat(run("help", sub)).isEqualTo(0);
    assertThat(out.toString()).contains("Usage: svcproxy " + sub);
    out.getBuffer().setLength(0);
    assertThat(run(sub, "--help")).isEqualTo(0);
    assertThat(out.toString()).contains("Usage: svcproxy " + sub);
  }

  @Test
  void version_printsName() {
    assertThat(run("--version")).isEqualTo(0);
    assertThat(out.toString()).startsWith("svcproxy ");
  }

  @Test
  void debug_turnsDebugLoggingOn_andItsAbsenceOff() {
    org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(MainTest.class);
    run("--debug", "--version");
    assertThat(log.isDebugEnabled()).isTrue();
    run("--version");
    assertThat(log.isDebugEnabled()).isFalse();
    assertThat(log.isInfoEnabled()).isTrue();
  }

  @Test
  void logging_goesToStderrOnly() {
    ch.qos.logback.classic.Logger root =
        (ch.qos.logback.classic.Logger)
            org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    java.util.List<String> targets = new java.util.ArrayList<>();
    root.iteratorForAppenders()
        .forEachRemaining(
            a -> {
              assertThat(a).isInstanceOf(ch.qos.logback.core.ConsoleAppender.class);
              targets.add(((ch.qos.logback.core.ConsoleAppender<?>) a).getTarget());
            });
    assertThat(targets).containsExactly("System.err");
  }
}
