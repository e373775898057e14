package dev.svcproxy.sync.iptables;

import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.RuleCanon;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.render.iptables.ChainNames;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Drops from a restore input the per-service nat chains the kernel already holds rule for rule.
 * Re-declaring a chain flushes and rewrites it, which on the iptables-nft backend costs time in
 * proportion to the whole table; a full resync over an unchanged kernel then writes only the
 * top-level chains.
 */
public final class UnchangedChains {
  private UnchangedChains() {}

  /** The restore input without the service chains whose rules equal those in {@code kernelNat}. */
  public static Ruleset drop(Ruleset input, Table kernelNat) {
    return drop(input, kernelNat.chains());
  }

  /** The restore input without the service chains whose rules equal those in {@code have}. */
  public static Ruleset drop(Ruleset input, Map<String, List<Rule>> have) {
    Table nat = input.table("nat").orElse(null);
    if (nat == null) {
      return input;
    }
    Map<String, List<Rule>> want = nat.chains();
    Set<String> deleted = new HashSet<>();
    for (Line l : nat.lines()) {
      if (l instanceof Line.DeleteChain d) {
        deleted.add(d.name());
      }
    }
    Set<String> skip = new HashSet<>();
    for (Map.Entry<String, List<Rule>> e : want.entrySet()) {
      String chain = e.getKey();
      if (ChainNames.isServiceChain(chain)
          && !deleted.contains(chain)
          && have.containsKey(chain)
          && keys(have.get(chain)).equals(keys(e.getValue()))) {
        skip.add(chain);
      }
    }
    if (skip.isEmpty()) {
      return input;
    }
    List<Line> kept = new ArrayList<>();
    for (Line l : nat.lines()) {
      boolean drop =
          l instanceof Line.ChainDecl c && skip.contains(c.name())
              || l instanceof Line.RuleLine r && skip.contains(r.rule().chain());
      if (!drop) {
        kept.add(l);
      }
    }
    List<Table> tables = new ArrayList<>();
    for (Table t : input.tables()) {
      tables.add(t == nat ? new Table(t.name(), t.before(), kept) : t);
    }
    return new Ruleset(tables, input.after());
  }

  private static List<String> keys(List<Rule> rules) {
    return rules.stream().map(RuleCanon::key).toList();
  }
}
