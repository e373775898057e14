package dev.svcproxy.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProcessCommandRunnerTest {
  /** Far more than a pipe holds (64 KiB), so a writer blocks until the command reads it. */
  private static String bigInput() {
    return "-A KUBE-SVC-X -m comment --comment \"ns/näme:p → 10.0.0.1\" -j KUBE-SEP-Y\n"
        .repeat(40_000);
  }

  @Test
  void run_commandThatNeverReadsItsLargeInput_timesOutWith124() {
    // Before the input was fed from its own thread, the write blocked until sleep exited, the
    // timeout never started, and the run came back as sleep's exit 0.
    CommandResult r =
        new ProcessCommandRunner().run(List.of("sleep", "5"), bigInput(), Duration.ofMillis(300));

    assertThat(r.exitCode()).isEqualTo(124);
    assertThat(r.stderr()).contains("timed out");
  }

  @Test
  void run_largeMultibyteInput_reachesTheCommandIntact() {
    String in = bigInput();

    CommandResult r = new ProcessCommandRunner().run(List.of("cat"), in, Duration.ofSeconds(30));

    assertThat(r.exitCode()).isZero();
    assertThat(r.stdout()).isEqualTo(in);
  }

  @Test
  void run_noInput_commandSeesEndOfInput() {
    CommandResult r = new ProcessCommandRunner().run(List.of("cat"), null, Duration.ofSeconds(10));

    assertThat(r.exitCode()).isZero();
    assertThat(r.stdout()).isEmpty();
  }
}
