package dev.svcproxy.cli;

/** Holds run's lock in a separate process until its stdin closes (args: dir [key]). */
public final class RunLockHolder {
  private RunLockHolder() {}

  public static void main(String[] args) throws Exception {
    java.nio.file.Path dir = java.nio.file.Path.of(args[0]);
    RunLock lock = args.length > 1 ? RunLock.acquire(dir, args[1]) : RunLock.acquire(dir);
    try {
      System.out.println("locked");
      System.out.flush();
      while (System.in.read() >= 0) {
        // Wait for the test to close stdin or kill us.
      }
    } finally {
      lock.close();
    }
  }
}
