package dev.svcproxy.sync;

/** A sync the kernel refused; the previous rules stay in place. */
public class SyncException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** iptables-restore runs the kernel refused during the failed sync. */
  private final int refusedRestores;

  public SyncException(String message) {
    this(message, 0);
  }

  /**
   * A failed sync during which the kernel refused {@code refusedRestores} iptables-restore runs.
   */
  public SyncException(String message, int refusedRestores) {
    super(message);
    this.refusedRestores = refusedRestores;
  }

  /** iptables-restore runs the kernel refused during the failed sync. */
  public int refusedRestores() {
    return refusedRestores;
  }
}
