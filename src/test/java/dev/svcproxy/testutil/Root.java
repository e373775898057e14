package dev.svcproxy.testutil;

/**
 * Kept for tests written against the old skip-when-not-root gate: it now fails like {@link
 * KernelTests#require} (or skips loudly when opted out), so {@code assumeTrue(Root.available())}
 * can no longer skip a kernel test silently.
 */
public final class Root {
  private Root() {}

  /** Always true when it returns; fails the test when kernel tests cannot run here. */
  public static boolean available() {
    KernelTests.require("kernel test");
    return true;
  }
}
