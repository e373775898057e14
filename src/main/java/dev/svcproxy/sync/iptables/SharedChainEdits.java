package dev.svcproxy.sync.iptables;

import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.render.iptables.ChainNames;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Turns the shared chains of a partial sync's restore input (KUBE-SERVICES, KUBE-NODEPORTS,
 * KUBE-EXTERNAL-SERVICES, ... in both tables) from "flush and rewrite the whole chain", which costs
 * time in proportion to the chain (0.6 s for KUBE-SERVICES at 10k services on iptables-nft), into
 * the few rule deletions and insertions by position that turn the rules last applied into the
 * desired ones. The rest of the input is kept as it is. A pure function.
 */
final class SharedChainEdits {
  private SharedChainEdits() {}

  /** Key of a chain in the record: "table chain". */
  private static String key(String table, String chain) {
    return table + " " + chain;
  }

  /** The shared chains of a full restore input, each with its rules as printed ("-A C ..."). */
  static Map<String, List<String>> record(Ruleset input) {
    return record(input, Rule::print);
  }

  /** {@link #record(Ruleset)} with the rules printed by {@code print} (a cache of Rule::print). */
  static Map<String, List<String>> record(Ruleset input, Function<Rule, String> print) {
    Map<String, List<String>> out = new HashMap<>();
    for (Table t : input.tables()) {
      for (Line.ChainDecl c : t.chainDecls()) {
        if (!ChainNames.isServiceChain(c.name())) {
          out.put(key(t.name(), c.name()), new ArrayList<>());
        }
      }
      // Rules come in runs of one chain: the record's list is looked up once per run.
      String chain = null;
      List<String> rules = null;
      for (Line l : t.lines()) {
        if (l instanceof Line.RuleLine rl) {
          Rule r = rl.rule();
          if (!r.chain().equals(chain)) {
            chain = r.chain();
            rules = out.get(key(t.name(), chain));
          }
          if (rules != null) {
            rules.add(print.apply(r));
          }
        }
      }
    }
    return out;
  }

  /**
   * The restore text of {@code input} with every shared chain the record holds written as edits
   * ("-D CHAIN N", then "-I CHAIN N RULE") instead of declared and rewritten; other chains, and
   * shared chains the record lacks, as {@code input} has them. Tables left with nothing to write
   * are left out.
   */
  static String print(Ruleset input, Map<String, List<String>> applied) {
    return print(input, applied, record(input));
  }

  /** {@link #print(Ruleset, Map)} given {@code wanted}, the {@link #record} of {@code input}. */
  static String print(
      Ruleset input, Map<String, List<String>> applied, Map<String, List<String>> wanted) {
    StringBuilder out = new StringBuilder();
    for (Table t : input.tables()) {
      Set<String> edited = new HashSet<>();
      for (Line.ChainDecl c : t.chainDecls()) {
        if (applied.containsKey(key(t.name(), c.name()))
            && wanted.containsKey(key(t.name(), c.name()))) {
          edited.add(c.name());
        }
      }
      List<String> edits = new ArrayList<>();
      for (Line.ChainDecl c : t.chainDecls()) {
        if (edited.contains(c.name())) {
          edits(
              c.name(),
              applied.get(key(t.name(), c.name())),
              wanted.get(key(t.name(), c.name())),
              edits);
        }
      }
      // The edits go before the first chain deletion: a stale chain can go only once no rule
      // jumps to it, and every chain a new rule jumps to is declared and filled before.
      List<String> lines = new ArrayList<>();
      for (Line l : t.lines()) {
        if (l instanceof Line.DeleteChain && edits != null) {
          lines.addAll(edits);
          edits = null;
        }
        boolean skip =
            l instanceof Line.ChainDecl c && edited.contains(c.name())
                || l instanceof Line.RuleLine r && edited.contains(r.rule().chain());
        if (!skip) {
          lines.add(l.print());
        }
      }
      if (edits != null) {
        lines.addAll(edits);
      }
      if (lines.isEmpty()) {
        continue;
      }
      for (String b : t.before()) {
        out.append(b).append('\n');
      }
      out.append('*').append(t.name()).append('\n');
      lines.forEach(l -> out.append(l).append('\n'));
      out.append("COMMIT\n");
    }
    for (String a : input.after()) {
      out.append(a).append('\n');
    }
    return out.toString();
  }

  /**
   * Appends the lines that turn {@code old} into {@code now}: the rules between their common start
   * and common end are deleted by position and the new ones inserted in their place, so the chain's
   * order ends exactly as rendered.
   */
  static void edits(String chain, List<String> old, List<String> now, List<String> out) {
    int p = 0;
    while (p < old.size() && p < now.size() && old.get(p).equals(now.get(p))) {
      p++;
    }
    int s = 0;
    while (s < old.size() - p
        && s < now.size() - p
        && old.get(old.size() - 1 - s).equals(now.get(now.size() - 1 - s))) {
      s++;
    }
    for (int i = p; i < old.size() - s; i++) {
      out.add("-D " + chain + " " + (p + 1));
    }
    String prefix = "-A " + chain;
    for (int i = p; i < now.size() - s; i++) {
      String rule = now.get(i).substring(prefix.length());
      out.add("-I " + chain + " " + (i + 1) + rule);
    }
  }
}
