package dev.svcproxy.cli;

/**
 * A failure the user can act on, with the exit code and the one line to print. Commands may also
 * throw IllegalArgumentException for bad input (exit 2); this type is for other codes.
 */
final class CliException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int exitCode;

  CliException(int exitCode, String message) {
    super(message);
    this.exitCode = exitCode;
  }

  int exitCode() {
    return exitCode;
  }
}
