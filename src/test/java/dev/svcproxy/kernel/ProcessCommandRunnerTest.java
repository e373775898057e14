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
  void stream_linesArriveBeforeTheCommandEnds_andTheExitCodeIsReturned() throws Exception {
    // The command waits for a file that only the consumer of its first line creates: a runner that
    // handed over the output only at the end would leave it waiting until the deadline (124).
    java.nio.file.Path go = java.nio.file.Files.createTempDirectory("stream").resolve("go");
    List<String> lines = new java.util.concurrent.CopyOnWriteArrayList<>();

    int code =
        new ProcessCommandRunner()
            .stream(
                List.of(
                    "sh",
                    "-c",
                    "echo one; while [ ! -e \"$1\" ]; do sleep 0.05; done; echo two; exit 3",
                    "sh",
                    go.toString()),
                Duration.ofSeconds(60),
                l -> {
                  lines.add(l);
                  try {
                    java.nio.file.Files.createFile(go);
                  } catch (java.io.IOException e) {
                    // Already there after the second line.
                  }
                });

    assertThat(code).isEqualTo(3);
    assertThat(lines).containsExactly("one", "two");
  }

  @Test
  void stream_pastTheDeadline_killedWith124() {
    int code =
        new ProcessCommandRunner().stream(List.of("sleep", "30"), Duration.ofMillis(300), l -> {});

    assertThat(code).isEqualTo(124);
  }

  @Test
  void run_noInput_commandSeesEndOfInput() {
    CommandResult r = new ProcessCommandRunner().run(List.of("cat"), null, Duration.ofSeconds(10));

    assertThat(r.exitCode()).isZero();
    assertThat(r.stdout()).isEmpty();
  }
}
