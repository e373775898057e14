package dev.svcproxy.netfilter;

import java.util.List;

/**
 * A jump from built-in chain {@code from} of {@code table} to chain {@code to}, with its matches.
 */
public record JumpRule(String table, String from, String to, List<String> args) {
  public JumpRule {
    args = List.copyOf(args);
  }
}
