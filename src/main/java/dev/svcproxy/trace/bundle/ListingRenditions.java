package dev.svcproxy.trace.bundle;

import java.util.Map;

/**
 * The `iptables -L` listing lines of a pasted or captured iptables file, as iptables-save writes
 * them.
 */
public final class ListingRenditions {
  private ListingRenditions() {}

  /**
   * Line number to the iptables-save text of that line's rule or chain header ("-A CHAIN ...",
   * ":CHAIN POLICY [p:b]"); lines of iptables-save text are not in it.
   */
  public static Map<Integer, String> of(String text) {
    return IptablesText.renditions(text);
  }
}
