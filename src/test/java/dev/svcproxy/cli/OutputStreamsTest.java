package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every command's stdout is its output only; logs and warnings go to stderr. Each command runs in
 * its own JVM with --debug (the most logging there is), as a user runs it; kernel-facing ones run
 * inside a throw-away network namespace.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OutputStreamsTest {
  /** A log line of any logback pattern starts with a time of day. */
  private static final Pattern LOG_LINE =
      Pattern.compile(
          "^\\d{2}:\\d{2}:\\d{2}[.,]\\d{3} .*|.*\\b(TRACE|DEBUG|INFO|WARN|ERROR)\\b.*"
              + "|^[IWEF]\\d{4} \\d{2}:\\d{2}:\\d{2}\\.\\d{6} +\\d+ [^ ]+:\\d+\\] .*");

  /** What iptables-restore reads: table headers, chain declarations, rules, COMMIT, comments. */
  private static final Pattern RESTORE_LINE =
      Pattern.compile(
          "^(\\*[a-z]+|:[A-Za-z0-9_.-]+ (ACCEPT|DROP|-) \\[\\d+:\\d+\\]|-[AX] .+|COMMIT|#.*)$");

  @TempDir Path tmp;
  private Lab lab;
  private String netns;

  @BeforeAll
  void start() {
    KernelTests.require("kernel tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    netns = lab.node("node1").netns();
  }

  @AfterAll
  void stop() {
    if (lab != null) {
      lab.close();
    }
  }

  private List<String> inNetns() {
    return List.of("ip", "netns", "exec", netns);
  }

  private static SvcproxyProcess.Result run(List<String> prefix, String... args) {
    return SvcproxyProcess.run(prefix, List.of(), List.of(args));
  }

  private static void assertNoLogLines(String stdout) {
    assertThat(stdout.lines().filter(l -> LOG_LINE.matcher(l).matches()).toList())
        .as("log lines on stdout")
        .isEmpty();
  }

  @Test
  void render_withSkippedDocument_stdoutIsRestoreTextTheKernelAccepts_warningOnStderr()
      throws Exception {
    Path manifests = Files.createDirectories(tmp.resolve("manifests"));
    Files.copy(SvcproxyProcess.resource("/golden/overall/input.yaml"), manifests.resolve("a.yaml"));
    Files.writeString(
        manifests.resolve("b.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {namespace: ns9, name: bad}\n"
            + "spec: {clusterIP: 10.96.0.999, ports: [{port: 80}]}\n");
    SvcproxyProcess.Result r =
        run(
            inNetns(),
            "--debug",
            "render",
            "--manifests",
            manifests.toString(),
            "--node-name",
            "test-node",
            "--node-ip",
            "192.168.0.2",
            "--cluster-cidr",
            "10.0.0.0/8");
    assertThat(r.code()).as(r.stderr()).isEqualTo(0);
    assertThat(r.stderr()).contains("10.96.0.999");
    assertThat(r.stdout()).startsWith("*");
    assertThat(r.stdout().lines().filter(l -> !RESTORE_LINE.matcher(l).matches()).toList())
        .as("stdout lines that are not restore text")
        .isEmpty();
    assertThat(r.stdout()).contains("-A KUBE-SERVICES").doesNotContain("ns9/bad");
    CommandResult test =
        lab.runner()
            .inNetns(netns)
            .run(List.of("iptables-restore", "--test"), r.stdout(), Duration.ofSeconds(60));
    assertThat(test.exitCode()).as(test.stderr()).isEqualTo(0);
  }

  @Test
  void trace_stdoutIsTheTraceOnly() throws Exception {
    Path bundle = Files.createDirectories(tmp.resolve("bundle"));
    var rendered =
        OverallRulesTestAccess.renderer()
            .render(States.fromYaml(States.resource("/golden/overall/input.yaml")))
            .restoreInput();
    Files.writeString(bundle.resolve("iptables-save.txt"), JumpRules.onNode(rendered).print());
    Files.writeString(bundle.resolve("ip-addr.json"), dev.svcproxy.trace.TracerTestAccess.ADDR);
    Files.writeString(bundle.resolve("ip-route.json"), dev.svcproxy.trace.TracerTestAccess.ROUTES);
    SvcproxyProcess.Result r =
        run(
            List.of(),
            "--debug",
            "trace",
            "--bundle",
            bundle.toString(),
            "--src",
            "10.0.1.5",
            "--dst",
            "172.30.0.41:80");
    assertThat(r.code()).as(r.stderr()).isEqualTo(0);
    assertThat(r.stdout()).contains("outcome 1 of 1: delivered");
    assertNoLogLines(r.stdout());
  }

  @Test
  void capture_stdoutIsTheOneSummaryLine() {
    Path out = tmp.resolve("captured");
    SvcproxyProcess.Result r =
        run(List.of(), "--debug", "capture", "--netns", netns, "--out", out.toString());
    assertThat(r.code()).as(r.stderr()).isEqualTo(0);
    assertThat(r.stdout().lines().toList()).hasSize(1);
    assertThat(r.stdout()).startsWith("wrote ");
  }

  @Test
  void cleanup_printsNothingOnStdout() {
    SvcproxyProcess.Result r = run(inNetns(), "--debug", "cleanup");
    assertThat(r.code()).as(r.stderr()).isEqualTo(0);
    assertThat(r.stdout()).isEmpty();
  }

  @Test
  void benchTrace_stdoutIsFiguresOnly() {
    SvcproxyProcess.Result r =
        run(
            List.of(),
            "--debug",
            "bench",
            "trace",
            "--services",
            "20",
            "--endpoints",
            "2",
            "--iterations",
            "1");
    assertThat(r.code()).as(r.stderr()).isEqualTo(0);
    assertThat(r.stdout()).isNotBlank();
    assertNoLogLines(r.stdout());
  }

  @Test
  void labBenchResync_stdoutIsFiguresOnly() {
    SvcproxyProcess.Result r =
        run(List.of(), "--debug", "lab", "bench-resync", "--services", "5", "--endpoints", "1");
    assertThat(r.code()).as(r.stderr()).isEqualTo(0);
    assertThat(r.stdout()).contains("full resync");
    assertNoLogLines(r.stdout());
  }
}
