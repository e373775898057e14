package dev.svcproxy.trace;

/** Shares the hand-made node of TracerTest with tests in other packages. */
public final class TracerTestAccess {
  public static final String ADDR = TracerTest.ADDR;
  public static final String ROUTES = TracerTest.ROUTES;

  private TracerTestAccess() {}
}
