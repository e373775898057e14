package dev.svcproxy.sync;

/** A sync the kernel refused; the previous rules stay in place. */
public class SyncException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public SyncException(String message) {
    super(message);
  }
}
