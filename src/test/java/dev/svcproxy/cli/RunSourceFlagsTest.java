package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/**
 * `run` needs exactly one source of Services. Every case here also carries an invalid
 * --masquerade-bit, so that no version of `run` could get as far as the kernel.
 */
class RunSourceFlagsTest {
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Main.execute(
        args, new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
  }

  @Test
  void run_noSource_exits2SayingWhatToPass() {
    // No service account on a test host: in-cluster config is not an option either.
    int code =
        run("run", "--node-name", "n1", "--masquerade-bit", "99", "--lock-dir", "/nonexistent");
    assertThat(code).isEqualTo(ExitCodes.USAGE);
    assertThat(err.toString()).contains("--manifests PATH").contains("--kubeconfig PATH");
  }

  @Test
  void run_manifestsAndKubeconfig_exits2() {
    int code =
        run(
            "run",
            "--manifests",
            "/nonexistent",
            "--kubeconfig",
            "/nonexistent/kc",
            "--node-name",
            "n1",
            "--masquerade-bit",
            "99",
            "--lock-dir",
            "/nonexistent");
    assertThat(code).isEqualTo(ExitCodes.USAGE);
    assertThat(err.toString()).contains("--manifests and --kubeconfig/--master exclude each other");
  }
}
