package dev.svcproxy.cli;

/** The exit codes every svcproxy command uses. */
public final class ExitCodes {
  /** Done; for trace, every outcome was delivered. */
  public static final int OK = 0;

  /** trace: a packet was dropped or rejected. */
  public static final int FINDING = 1;

  /** Bad input or usage: a flag, a file, a second run in the same network namespace. */
  public static final int USAGE = 2;

  /** An internal error: a bug, or the machine ran out of something (memory). */
  public static final int INTERNAL = 3;

  private ExitCodes() {}
}
