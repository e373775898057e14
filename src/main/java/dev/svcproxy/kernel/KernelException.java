package dev.svcproxy.kernel;

/** An external command that failed, with its result. */
public class KernelException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final transient CommandResult result;

  public KernelException(String message, CommandResult result) {
    super(message);
    this.result = result;
  }

  public CommandResult result() {
    return result;
  }
}
