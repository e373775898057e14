package dev.svcproxy.kernel;

import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

/** Runs external commands from argv lists, never through a shell. */
public interface CommandRunner {
  Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

  /** Runs argv with {@code stdin} (null for none) and waits at most {@code timeout}. */
  CommandResult run(List<String> argv, String stdin, Duration timeout);

  /**
   * Starts argv in the background with stdout and stderr going to {@code log}; the caller stops it.
   * Long-running helpers (a lab backend, a proxy under test) use this.
   */
  Spawned spawn(List<String> argv, java.nio.file.Path log);

  /**
   * Runs argv to the end, handing each line of its stdout to {@code stdoutLine} as it comes (its
   * stderr goes to this process's stderr), and returns its exit code (124 when {@code timeout}
   * passed). For long commands whose output a person watches (a job in the kernel VM). This default
   * runs it buffered; the process runner streams.
   */
  default int stream(List<String> argv, Duration timeout, Consumer<String> stdoutLine) {
    CommandResult r = run(argv, null, timeout);
    r.stdout().lines().forEach(stdoutLine);
    System.err.print(r.stderr());
    return r.exitCode();
  }

  default CommandResult run(List<String> argv) {
    return run(argv, null, DEFAULT_TIMEOUT);
  }

  default CommandResult run(String... argv) {
    return run(List.of(argv));
  }

  /** This runner with every command run inside network namespace {@code netns}. */
  default CommandRunner inNetns(String netns) {
    CommandRunner inner = this;
    return new CommandRunner() {
      @Override
      public CommandResult run(List<String> argv, String stdin, Duration timeout) {
        return inner.run(prefixed(argv), stdin, timeout);
      }

      @Override
      public Spawned spawn(List<String> argv, java.nio.file.Path log) {
        return inner.spawn(prefixed(argv), log);
      }

      private List<String> prefixed(List<String> argv) {
        List<String> full = new java.util.ArrayList<>(List.of("ip", "netns", "exec", netns));
        full.addAll(argv);
        return full;
      }
    };
  }
}
