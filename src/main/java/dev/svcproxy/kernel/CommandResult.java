package dev.svcproxy.kernel;

import java.util.List;

/** What an external command did: its argv, exit code and captured output. */
public record CommandResult(List<String> argv, int exitCode, String stdout, String stderr) {
  public CommandResult {
    argv = List.copyOf(argv);
  }

  public boolean ok() {
    return exitCode == 0;
  }

  /** The first line of stderr (or stdout), for a one-line error. */
  public String firstErrorLine() {
    String s = stderr.isBlank() ? stdout : stderr;
    return s.strip().lines().findFirst().orElse("exit code " + exitCode);
  }

  /** Throws KernelException unless the command succeeded. */
  public CommandResult orThrow() {
    if (!ok()) {
      throw new KernelException(
          String.join(" ", argv) + " failed (exit " + exitCode + "): " + stderr.strip(), this);
    }
    return this;
  }
}
