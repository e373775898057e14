package dev.svcproxy.bench;

/**
 * Prints in-process sync timings (not a test): java ... InProcessSyncProfile N E ROUNDS RESTARTS.
 */
final class InProcessSyncProfile {
  private InProcessSyncProfile() {}

  public static void main(String[] args) {
    ResyncBenchmark.runInProcess(
        Integer.parseInt(args[0]),
        Integer.parseInt(args[1]),
        Integer.parseInt(args[2]),
        Integer.parseInt(args[3]),
        System.out::println);
  }
}
