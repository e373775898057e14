package dev.svcproxy.netfilter;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** A rule together with the table it lives in, for commands that work one rule at a time. */
public record TableRule(String table, Rule rule) {
  public TableRule {
    SafeText.name("table name", table);
    Objects.requireNonNull(rule);
  }

  /**
   * The iptables argv after the program name for {@code command} ("-C", "-I", "-D", "-A") on this
   * rule: "-t TABLE COMMAND CHAIN" and the rule's elements, values unquoted.
   */
  public List<String> argv(String command) {
    List<String> out = new ArrayList<>(List.of("-t", table, SafeText.name("command", command)));
    out.add(rule.chain());
    out.addAll(IptablesCodec.argv(rule));
    return out;
  }

  /** "TABLE -A CHAIN ...", for messages. */
  @Override
  public String toString() {
    return table + " " + rule.print();
  }
}
