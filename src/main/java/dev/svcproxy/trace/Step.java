package dev.svcproxy.trace;

/**
 * One thing that happened to the packet: a routing decision, a conntrack lookup, or a rule that
 * matched (hook, table, chain, 1-based rule number, the rule as iptables-save prints it) and what
 * it did.
 */
public record Step(String hook, String table, String chain, int rule, String text, String effect) {
  public static Step note(String hook, String text) {
    return new Step(hook, "", "", 0, text, "");
  }
}
