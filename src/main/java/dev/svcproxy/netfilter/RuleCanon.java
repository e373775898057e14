package dev.svcproxy.netfilter;

import dev.svcproxy.netfilter.match.Match;
import dev.svcproxy.netfilter.target.Target;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A canonical key of a rule's meaning, so that a rule as written to iptables-restore and the same
 * rule as iptables-save prints it back compare equal: the key is built from the typed rule ({@link
 * TypedRule}), whose values are what the kernel holds, so long and short flags, "/32" host masks,
 * the kernel's rounding of statistic probabilities, MARK's spellings of one operation, recent's
 * defaults, quoting and element order all fall away.
 */
public final class RuleCanon {

  private RuleCanon() {}

  /** The canonical key of a rule, counters and chain excluded. */
  public static String key(Rule rule) {
    TypedRule t = TypedRule.lenient(rule);
    List<String> parts = new ArrayList<>();
    for (Match m : t.matches()) {
      if (m instanceof Match.Invalid) {
        // A value the kernel would refuse has no meaning to normalise: compare as written.
        return rule.print().substring(rule.chain().length() + 4);
      }
      parts.add(m.toString());
    }
    if (t.target() instanceof Target.Invalid) {
      return rule.print().substring(rule.chain().length() + 4);
    }
    Collections.sort(parts);
    return String.join(" ", parts) + " -> " + t.target();
  }
}
