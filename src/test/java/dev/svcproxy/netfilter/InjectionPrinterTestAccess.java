package dev.svcproxy.netfilter;

import java.util.List;

/** The control characters InjectionPrinterTest uses, for the renderer's injection test. */
public final class InjectionPrinterTestAccess {
  private InjectionPrinterTestAccess() {}

  public static List<Character> controls() {
    return InjectionPrinterTest.controls();
  }
}
