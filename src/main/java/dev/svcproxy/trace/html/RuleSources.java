package dev.svcproxy.trace.html;

import dev.svcproxy.trace.Step;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Where a trace step's rule is in the files the node state was read from: the line of
 * iptables-save.txt (or iptables-legacy-save.txt), or the handle of an nftables rule. On a live
 * node the place names the command that printed the rules and the line of its output.
 */
public final class RuleSources {
  private final Map<String, String> files;
  private final boolean live;

  private RuleSources(Map<String, String> files, boolean live) {
    this.files = new TreeMap<>(files);
    this.live = live;
  }

  /** The files of a bundle directory, by bundle file name. */
  public static RuleSources bundle(Map<String, String> files) {
    return new RuleSources(files, false);
  }

  /** The same contents captured from a live node. */
  public static RuleSources live(Map<String, String> files) {
    return new RuleSources(files, true);
  }

  /** No files: steps are shown without their place. */
  public static RuleSources none() {
    return new RuleSources(Map.of(), false);
  }

  /**
   * A rule's place ({@code iptables-save.txt:42}, or {@code $ iptables-save (line 42)} live) and
   * the line as the file holds it ("" when the place is not a line).
   */
  public record Source(String where, String line) {}

  /** The place of {@code s}'s rule, policy or chain, when the files show it. */
  public Optional<Source> locate(Step s) {
    String table = s.table();
    if (table == null || table.isEmpty()) {
      return Optional.empty();
    }
    if (table.startsWith("nft ")) {
      String file = files.containsKey("nft-ruleset.json") ? "nft-ruleset.json" : "nft-ruleset.txt";
      if (!files.containsKey(file) || s.rule() <= 0) {
        return Optional.empty();
      }
      String where = live ? "$ nft -a list ruleset" : file;
      return Optional.of(new Source(where + ", " + table + " handle " + s.rule(), ""));
    }
    boolean legacy = table.startsWith("legacy ");
    String file = legacy ? "iptables-legacy-save.txt" : "iptables-save.txt";
    String text = files.get(file);
    if (text == null) {
      return Optional.empty();
    }
    String name = legacy ? table.substring("legacy ".length()) : table;
    int line = find(text, name, s);
    if (line <= 0) {
      return Optional.empty();
    }
    String raw = text.split("\n", -1)[line - 1].strip();
    String cmd = legacy ? "iptables-legacy-save" : "iptables-save";
    return Optional.of(
        new Source(live ? "$ " + cmd + " (line " + line + ")" : file + ":" + line, raw));
  }

  /**
   * The 1-based line of the step's rule in iptables-save text: the line that reads exactly as the
   * rule, else the n-th {@code -A CHAIN} line of the table (a rule's position), else for a policy
   * or a chain's end the chain's declaration; 0 when not found. A file without table headers (a
   * pasted fragment) counts as holding every table.
   */
  private static int find(String text, String table, Step s) {
    String[] lines = text.split("\n", -1);
    boolean headers = false;
    for (String l : lines) {
      if (l.strip().startsWith("*")) {
        headers = true;
        break;
      }
    }
    String rule = s.text() == null ? "" : s.text().strip();
    String append = "-A " + s.chain() + " ";
    String declare = ":" + s.chain() + " ";
    int nth = 0;
    int byPosition = 0;
    int declared = 0;
    boolean in = !headers;
    for (int i = 0; i < lines.length; i++) {
      String l = withoutCounters(lines[i].strip());
      if (headers && l.startsWith("*")) {
        in = l.substring(1).strip().equals(table);
        continue;
      }
      if (!in) {
        continue;
      }
      if (s.rule() > 0 && !rule.isEmpty() && l.equals(rule)) {
        return i + 1;
      }
      if (l.startsWith(append) || l.equals(append.strip())) {
        nth++;
        if (nth == s.rule() && byPosition == 0) {
          byPosition = i + 1;
        }
      }
      if (declared == 0 && l.startsWith(declare)) {
        declared = i + 1;
      }
    }
    return s.rule() > 0 ? byPosition : declared;
  }

  /** "[12:345] -A ..." as iptables-save -c prints it, without the counters. */
  private static String withoutCounters(String l) {
    if (l.startsWith("[")) {
      int close = l.indexOf("] ");
      if (close > 0 && l.substring(1, close).matches("\\d+:\\d+")) {
        return l.substring(close + 2).strip();
      }
    }
    return l;
  }
}
