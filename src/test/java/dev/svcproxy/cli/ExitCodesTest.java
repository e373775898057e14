package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.testutil.States;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Exit codes through Main: 0 ok, 1 a dropped packet, 2 bad input, 3 internal error. */
class ExitCodesTest {
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

  /** A command that fails the way a bug or an exhausted heap would. */
  @Command(name = "boom")
  static final class Boom implements Callable<Integer> {
    private final Supplier<Throwable> failure;

    Boom(Supplier<Throwable> failure) {
      this.failure = failure;
    }

    @Override
    public Integer call() throws Exception {
      Throwable t = failure.get();
      if (t instanceof Error e) {
        throw e;
      }
      throw (Exception) t;
    }
  }

  private int run(String... args) {
    return Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
  }

  private int boom(Supplier<Throwable> failure, String... args) {
    CommandLine cl = Main.commandLine(CommandLine.defaultFactory());
    cl.addSubcommand("boom", new Boom(failure));
    return Main.execute(cl, args, new PrintWriter(out, true), new PrintWriter(err, true));
  }

  private List<String> errLines() {
    return err.toString().strip().lines().toList();
  }

  @Test
  void render_goodInput_exitsZero() {
    Path input = SvcproxyProcess.resource("/golden/overall/input.yaml");
    assertThat(
            run(
                "render",
                "--manifests",
                input.toString(),
                "--node-name",
                "n",
                "--node-ip",
                "192.168.0.2"))
        .isEqualTo(0);
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void trace_delivered_exitsZero_rejected_exitsOne() {
    String[] base = {"trace", "--bundle", bundle.toString(), "--src", "10.0.1.5", "--dst"};
    assertThat(run(concat(base, "172.30.0.41:80"))).isEqualTo(0);
    // 172.30.0.46 is the overall input's service without endpoints: REJECT.
    assertThat(run(concat(base, "172.30.0.46:80"))).isEqualTo(1);
    assertThat(err.toString()).isEmpty();
  }

  private static String[] concat(String[] a, String b) {
    String[] r = java.util.Arrays.copyOf(a, a.length + 1);
    r[a.length] = b;
    return r;
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "render --bogus",
        "render --manifests /x --node-name n --masquerade-bit abc",
        "render --manifests /x",
        "trace --bundle /x --live --dst 10.0.0.1:80",
        "nosuchcommand",
        "render --manifests /nonexistent --node-name n"
      })
  void badInput_exitsTwo_withOneLine(String line) {
    assertThat(run(line.split(" "))).isEqualTo(2);
    assertThat(errLines()).hasSize(1);
    assertThat(errLines().get(0)).startsWith("svcproxy: ").doesNotContain("Exception");
  }

  @Test
  void cliException_exitsWithItsCode() {
    assertThat(boom(() -> new CliException(2, "busy"), "boom")).isEqualTo(2);
    assertThat(errLines()).containsExactly("svcproxy: busy");
  }

  @Test
  void internalError_exitsThree_withOneLineAndNoStackTrace() {
    assertThat(boom(() -> new IllegalStateException("broken\ninvariant"), "boom")).isEqualTo(3);
    assertThat(errLines()).hasSize(1);
    assertThat(errLines().get(0))
        .startsWith("svcproxy: internal error: broken; invariant")
        .contains("--debug")
        .doesNotContain("IllegalStateException");
  }

  @Test
  void internalError_withoutMessage_namesNoRawText() {
    assertThat(boom(NullPointerException::new, "boom")).isEqualTo(3);
    assertThat(errLines()).hasSize(1);
    assertThat(errLines().get(0)).startsWith("svcproxy: internal error: ");
  }

  @Test
  void internalError_debug_printsTheStackTraceThenTheLine() {
    assertThat(boom(() -> new IllegalStateException("broken"), "--debug", "boom")).isEqualTo(3);
    assertThat(err.toString())
        .contains("java.lang.IllegalStateException: broken")
        .contains("\tat ");
    assertThat(errLines().get(errLines().size() - 1)).isEqualTo("svcproxy: internal error: broken");
  }

  @Test
  void outOfMemory_exitsThree_withOneLine() {
    assertThat(boom(() -> new OutOfMemoryError("Java heap space"), "boom")).isEqualTo(3);
    assertThat(errLines()).containsExactly(Main.OUT_OF_MEMORY);
    assertThat(err.toString()).doesNotContain("OutOfMemoryError");
  }

  @Test
  void stackOverflow_exitsThree_withOneLine() {
    assertThat(boom(StackOverflowError::new, "boom")).isEqualTo(3);
    assertThat(errLines())
        .containsExactly(
            "svcproxy: internal error: stack overflow (--debug prints the stack trace)");
  }

  @Test
  void outOfMemory_realHeapExhausted_exitsThree_withOneLine() {
    // 100k services do not fit in 32 MB: bench trace builds them in memory.
    SvcproxyProcess.Result r =
        SvcproxyProcess.run(
            List.of(),
            List.of("-Xmx32m"),
            List.of("bench", "trace", "--services", "100000", "--iterations", "1"));
    assertThat(r.code()).isEqualTo(3);
    assertThat(r.stderr().strip().lines()).containsExactly(Main.OUT_OF_MEMORY);
  }
}
