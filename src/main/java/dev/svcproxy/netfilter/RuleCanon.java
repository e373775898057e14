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
 * defaults, quoting and element order all fall away. Matches with side effects (recent
 * --set/--update/--remove, statistic nth, limit, set, hashlimit, quota) keep their order among
 * themselves, since which of them runs first changes what the others see.
 */
public final class RuleCanon {

  private RuleCanon() {}

  /** The canonical key of a rule, counters and chain excluded. */
  public static String key(Rule rule) {
    TypedRule t = TypedRule.lenient(rule);
    List<String> pure = new ArrayList<>();
    List<String> effects = new ArrayList<>();
    for (Match m : mergePorts(t.matches())) {
      if (m instanceof Match.Invalid) {
        // A value the kernel would refuse has no meaning to normalise: compare as written.
        return rule.print().substring(rule.chain().length() + 4);
      }
      (sideEffect(m) ? effects : pure).add(m.toString());
    }
    if (t.target() instanceof Target.Invalid) {
      return rule.print().substring(rule.chain().length() + 4);
    }
    Collections.sort(pure);
    return String.join(" ", pure) + " | " + String.join(" ", effects) + " -> " + t.target();
  }

  private static boolean sideEffect(Match m) {
    return switch (m) {
      case Match.Recent r -> r.command() != Match.RecentCommand.RCHECK;
      case Match.Statistic s -> s.mode() == Match.StatisticMode.NTH;
      case Match.Limit l -> true;
      // xt_set updates the entry's counters unless --no-update-counters.
      case Match.SetMatch s -> true;
      case Match.Unknown u -> u.module().equals("hashlimit") || u.module().equals("quota");
      default -> false;
    };
  }

  /**
   * iptables 1.8.9 saves "-m tcp --dport 80 -m tcp --sport 1" as one "-m tcp --sport 1 --dport 80":
   * two protocol matches of one protocol whose tests do not overlap are one match.
   */
  private static List<Match> mergePorts(List<Match> in) {
    List<Match> out = new ArrayList<>();
    for (Match m : in) {
      if (m instanceof Match.Ports p) {
        int i = indexOfMergeable(out, p);
        if (i >= 0) {
          Match.Ports q = (Match.Ports) out.get(i);
          List<Match.Opt> other = new ArrayList<>(q.other());
          other.addAll(p.other());
          out.set(
              i,
              new Match.Ports(
                  q.protocol(),
                  q.sport() != null ? q.sport() : p.sport(),
                  q.dport() != null ? q.dport() : p.dport(),
                  q.flags() != null ? q.flags() : p.flags(),
                  other));
          continue;
        }
      }
      out.add(m);
    }
    return out;
  }

  private static int indexOfMergeable(List<Match> out, Match.Ports p) {
    for (int i = 0; i < out.size(); i++) {
      if (out.get(i) instanceof Match.Ports q
          && q.protocol().equals(p.protocol())
          && (q.sport() == null || p.sport() == null)
          && (q.dport() == null || p.dport() == null)
          && (q.flags() == null || p.flags() == null)
          && (q.other().isEmpty() || p.other().isEmpty())) {
        return i;
      }
    }
    return -1;
  }
}
