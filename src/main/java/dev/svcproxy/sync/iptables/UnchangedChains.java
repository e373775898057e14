package dev.svcproxy.sync.iptables;

import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.RuleCanon;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.netfilter.Value;
import dev.svcproxy.render.iptables.ChainNames;
import java.util.ArrayList;
import java.util.HashMap;
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
    return dropIf(
        input, false, (chain, want) -> have.containsKey(chain) && same(have.get(chain), want));
  }

  /**
   * The restore input without the service chains whose rules equal the rule lines in {@code
   * haveLines} (chain to its "-A" lines as iptables-save prints them, or as restore input). A line
   * is compared by a cheap normal form first ({@link #normal}); only a chain where that finds a
   * difference is parsed and compared by meaning ({@link RuleCanon}), so a resync over an unchanged
   * kernel parses next to nothing of what iptables-save printed. Unlike {@link #drop(Ruleset, Map)}
   * it drops the top-level nat chains the input declares (KUBE-SERVICES, ...) too when the kernel
   * holds them rule for rule in the same order: rewriting an equal chain changes nothing, and
   * KUBE-SERVICES at 10k services costs over a second to rewrite on iptables-nft.
   */
  public static Ruleset dropSaved(Ruleset input, Map<String, List<String>> haveLines) {
    Map<String, String> probabilities = new HashMap<>();
    return dropIf(
        input,
        true,
        (chain, want) -> {
          List<String> have = haveLines.get(chain);
          return have != null && sameLines(have, want, probabilities);
        });
  }

  private interface Same {
    boolean test(String chain, List<Rule> want);
  }

  private static Ruleset dropIf(Ruleset input, boolean topLevelToo, Same same) {
    Table nat = input.table("nat").orElse(null);
    if (nat == null) {
      return input;
    }
    Map<String, List<Rule>> want = chains(nat);
    Set<String> deleted = new HashSet<>();
    for (Line l : nat.lines()) {
      if (l instanceof Line.DeleteChain d) {
        deleted.add(d.name());
      }
    }
    Set<String> skip = new HashSet<>();
    for (Map.Entry<String, List<Rule>> e : want.entrySet()) {
      String chain = e.getKey();
      if ((topLevelToo || ChainNames.isServiceChain(chain))
          && !deleted.contains(chain)
          && same.test(chain, e.getValue())) {
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

  /** Every chain of a table, declared or only appended to, with its rules; one pass. */
  private static Map<String, List<Rule>> chains(Table t) {
    Map<String, List<Rule>> out = new HashMap<>();
    for (Line l : t.lines()) {
      if (l instanceof Line.ChainDecl c) {
        out.putIfAbsent(c.name(), new ArrayList<>());
      } else if (l instanceof Line.RuleLine r) {
        out.computeIfAbsent(r.rule().chain(), k -> new ArrayList<>()).add(r.rule());
      }
    }
    return out;
  }

  private static boolean same(List<Rule> have, List<Rule> want) {
    if (have.size() != want.size()) {
      return false;
    }
    for (int i = 0; i < have.size(); i++) {
      if (!RuleCanon.key(have.get(i)).equals(RuleCanon.key(want.get(i)))) {
        return false;
      }
    }
    return true;
  }

  private static boolean sameLines(
      List<String> have, List<Rule> want, Map<String, String> probabilities) {
    if (have.size() != want.size()) {
      return false;
    }
    boolean printedAlike = true;
    for (int i = 0; i < have.size() && printedAlike; i++) {
      printedAlike = have.get(i).equals(asSaved(want.get(i), probabilities));
    }
    if (printedAlike) {
      return true;
    }
    boolean fast = true;
    for (int i = 0; i < have.size() && fast; i++) {
      String a = normal(have.get(i));
      fast = a != null && a.equals(normal(want.get(i)));
    }
    if (fast) {
      return true;
    }
    List<Rule> parsed = new ArrayList<>(have.size());
    for (String l : have) {
      try {
        parsed.add(IptablesCodec.parseRule(l));
      } catch (RuntimeException e) {
        return false; // A rule this codec cannot read is not one the render wrote.
      }
    }
    return same(parsed, want);
  }

  /**
   * The rule as iptables-nft-save 1.8.9 prints it back once the kernel holds it, or null when it
   * holds anything this does not know to predict: the core options first (-s, -d, -i, -o, -p, an
   * IPv4 host address with "/32"), then the rest in order, comments quoted, a statistic probability
   * as the 32-bit value the kernel stores, printed "%.11f" as iptables does. Every step keeps the
   * rule's meaning (see {@link #normal(String)}), so a saved line equal to it is the same rule; a
   * wrong prediction only costs the slower comparisons. {@code probabilities} caches the printed
   * form of each probability value.
   */
  static String asSaved(Rule rule, Map<String, String> probabilities) {
    String[] core = new String[CORE.size()];
    StringBuilder rest = new StringBuilder();
    for (Arg a : rule.args()) {
      switch (a) {
        case Arg.Param p -> {
          int c = core(p.flag());
          if (c < 0 || p.value() == null || core[c] != null) {
            return null;
          }
          String v = p.value().text();
          if (!plain(v)) {
            return null;
          }
          if (c < 2 && v.indexOf('/') < 0) {
            if (v.indexOf(':') >= 0) {
              return null; // IPv6 is for ip6tables
            }
            v = v + "/32";
          }
          core[c] = (p.negated() ? "! " : "") + p.flag() + " " + v;
        }
        case Arg.Module m -> rest.append(" -m ").append(m.name());
        case Arg.Option o -> {
          rest.append(o.negated() ? " ! " : " ").append(o.flag());
          for (Value v : o.values()) {
            String t = v.text();
            if (!plain(t)) {
              return null;
            }
            if (o.flag().equals("--comment")) {
              if (t.indexOf('"') >= 0) {
                return null;
              }
              rest.append(" \"").append(t).append('"');
            } else if (o.flag().equals("--probability")) {
              String printed = probabilities.computeIfAbsent(t, UnchangedChains::kernelProbability);
              if (printed.isEmpty()) {
                return null;
              }
              rest.append(' ').append(printed);
            } else {
              if (t.isEmpty() || t.indexOf(' ') >= 0 || t.indexOf('"') >= 0) {
                return null;
              }
              rest.append(' ').append(t);
            }
          }
        }
        case Arg.Jump j -> rest.append(j.isGoto() ? " -g " : " -j ").append(j.target());
      }
    }
    StringBuilder out = new StringBuilder("-A ").append(rule.chain());
    // iptables-save's order of the core options.
    for (int c : new int[] {0, 1, 3, 4, 2}) {
      if (core[c] != null) {
        out.append(' ').append(core[c]);
      }
    }
    return out.append(rest).toString();
  }

  /** No backslash or control character: text that prints as it is. */
  private static boolean plain(String t) {
    for (int i = 0; i < t.length(); i++) {
      char c = t.charAt(i);
      if (c == '\\' || c < ' ') {
        return false;
      }
    }
    return true;
  }

  /** A probability as iptables prints the kernel's value of it ("" when it is no number). */
  private static String kernelProbability(String text) {
    try {
      long k = Math.round(Double.parseDouble(text) * 0x80000000L);
      return String.format(java.util.Locale.ROOT, "%.11f", k / (double) 0x80000000L);
    } catch (NumberFormatException e) {
      return "";
    }
  }

  /** The core options iptables holds in the rule's IP header part, whatever their position. */
  private static final List<String> CORE = List.of("-s", "-d", "-p", "-i", "-o");

  /** The index of {@code t} in {@link #CORE}, else -1. */
  private static int core(String t) {
    if (t.length() != 2 || t.charAt(0) != '-') {
      return -1;
    }
    return switch (t.charAt(1)) {
      case 's' -> 0;
      case 'd' -> 1;
      case 'p' -> 2;
      case 'i' -> 3;
      case 'o' -> 4;
      default -> -1;
    };
  }

  /**
   * A normal form of one "-A CHAIN ..." rule line under which the restore input svcproxy renders
   * and iptables-save's printing of the same rule are equal strings, or null when the line holds
   * anything it does not know to normalise (the caller then compares by meaning). Only rewrites
   * that keep the rule's meaning are made: quotes removed (iptables' own tokenizer does that), the
   * core options -s/-d/-p/-i/-o (part of the IP header match, evaluated before every -m match
   * wherever they are written) moved to the front in a fixed order, "/32" dropped from -s/-d, and a
   * statistic probability replaced by the 32-bit value the kernel stores (iptables: lround(p *
   * 2^31)). Everything else keeps its order, so two lines with equal normal forms are the same
   * rule; the converse need not hold.
   */
  static String normal(String line) {
    return normal(tokens(line));
  }

  /** {@link #normal(String)} of the rule's printed line, made from its arguments unprinted. */
  static String normal(Rule rule) {
    List<String> tok = new ArrayList<>();
    tok.add("-A");
    tok.add(rule.chain());
    for (Arg a : rule.args()) {
      switch (a) {
        case Arg.Param p -> {
          if (p.negated()) {
            tok.add("!");
          }
          tok.add(p.flag());
          if (p.value() != null) {
            tok.add(p.value().text());
          }
        }
        case Arg.Module m -> {
          tok.add("-m");
          tok.add(m.name());
        }
        case Arg.Option o -> {
          if (o.negated()) {
            tok.add("!");
          }
          tok.add(o.flag());
          for (Value v : o.values()) {
            tok.add(v.text());
          }
        }
        case Arg.Jump j -> {
          tok.add(j.isGoto() ? "-g" : "-j");
          tok.add(j.target());
        }
      }
    }
    return normal(tok);
  }

  private static String normal(List<String> tok) {
    if (tok == null || tok.size() < 2 || !tok.get(0).equals("-A")) {
      return null;
    }
    String[] core = new String[CORE.size()];
    StringBuilder rest = new StringBuilder();
    boolean neg = false;
    for (int i = 2; i < tok.size(); i++) {
      String t = tok.get(i);
      if (t.equals("!")) {
        if (neg) {
          return null;
        }
        neg = true;
        continue;
      }
      int c = core(t);
      if (c >= 0) {
        if (i + 1 >= tok.size() || core[c] != null) {
          return null;
        }
        String v = tok.get(++i);
        if (c < 2 && v.endsWith("/32")) {
          v = v.substring(0, v.length() - 3);
        }
        core[c] = (neg ? "! " : "") + v;
        neg = false;
        continue;
      }
      if (!t.startsWith("-")) {
        return null; // A value where a flag was expected: flag values are taken below.
      }
      rest.append(neg ? " ! " : " ").append(t);
      neg = false;
      // The flag's values: free text for --comment, else every following non-flag token.
      if (t.equals("--comment")) {
        if (i + 1 >= tok.size()) {
          return null;
        }
        rest.append(" \u0000").append(tok.get(++i)).append('\u0000');
        continue;
      }
      while (i + 1 < tok.size() && !tok.get(i + 1).startsWith("-") && !tok.get(i + 1).equals("!")) {
        String v = tok.get(++i);
        if (t.equals("--probability")) {
          try {
            v = "p" + Math.round(Double.parseDouble(v) * 0x80000000L);
          } catch (NumberFormatException e) {
            return null;
          }
        }
        rest.append(' ').append(v);
      }
    }
    if (neg) {
      return null;
    }
    StringBuilder out = new StringBuilder(tok.get(1));
    for (int c = 0; c < core.length; c++) {
      if (core[c] != null) {
        out.append(' ').append(CORE.get(c)).append(' ').append(core[c]);
      }
    }
    return out.append(" |").append(rest).toString();
  }

  /**
   * The tokens of a line split at spaces, a double-quoted token unquoted; null for anything else
   * (backslashes, single quotes, tabs), which the caller compares by meaning instead.
   */
  private static List<String> tokens(String line) {
    List<String> out = new ArrayList<>();
    int n = line.length();
    int i = 0;
    while (i < n) {
      char ch = line.charAt(i);
      if (ch == ' ') {
        i++;
        continue;
      }
      if (ch == '"') {
        int end = line.indexOf('"', i + 1);
        if (end < 0 || end + 1 < n && line.charAt(end + 1) != ' ') {
          return null;
        }
        String v = line.substring(i + 1, end);
        if (v.indexOf('\\') >= 0) {
          return null;
        }
        out.add(v);
        i = end + 1;
        continue;
      }
      int end = i;
      while (end < n && line.charAt(end) != ' ') {
        char c = line.charAt(end);
        if (c == '"' || c == '\'' || c == '\\' || c == '\t' || c == '\u0000') {
          return null;
        }
        end++;
      }
      out.add(line.substring(i, end));
      i = end;
    }
    return out;
  }

  /**
   * The rule lines of each chain in an iptables-save text (counters dropped), and every declared
   * chain (with no rules when it has none); one pass over the text, nothing parsed.
   */
  public static Map<String, List<String>> savedChains(String saveText) {
    Map<String, List<String>> out = new HashMap<>();
    int n = saveText.length();
    int i = 0;
    while (i < n) {
      int end = saveText.indexOf('\n', i);
      if (end < 0) {
        end = n;
      }
      String line = saveText.substring(i, end).strip();
      i = end + 1;
      if (line.startsWith("[")) {
        int close = line.indexOf("] ");
        if (close < 0) {
          continue;
        }
        line = line.substring(close + 2);
      }
      if (line.startsWith(":")) {
        int sp = line.indexOf(' ');
        out.putIfAbsent(line.substring(1, sp < 0 ? line.length() : sp), new ArrayList<>());
      } else if (line.startsWith("-A ")) {
        int sp = line.indexOf(' ', 3);
        String chain = line.substring(3, sp < 0 ? line.length() : sp);
        out.computeIfAbsent(chain, k -> new ArrayList<>()).add(line);
      }
    }
    return out;
  }
}
