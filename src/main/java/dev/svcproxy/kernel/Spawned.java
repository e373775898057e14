package dev.svcproxy.kernel;

/** A background command started by a CommandRunner. */
public interface Spawned extends AutoCloseable {
  boolean isAlive();

  /** Sends SIGTERM and waits briefly; kills it if it does not exit. */
  @Override
  void close();
}
