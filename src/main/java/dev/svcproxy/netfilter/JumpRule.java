package dev.svcproxy.netfilter;

import java.util.List;

/**
 * A jump from built-in chain {@code from} of {@code table} to chain {@code to}, with its matches.
 */
public record JumpRule(String table, String from, String to, List<String> args) {
  public JumpRule {
    SafeText.name("table name", table);
    SafeText.name("chain name", from);
    SafeText.name("chain name", to);
    args = List.copyOf(args);
    for (String a : args) {
      SafeText.value("argument of the jump from " + from + " to " + to, a);
    }
  }
}
