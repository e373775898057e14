package dev.svcproxy.netfilter;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads iptables-save output (legacy and nft flavours, with or without counters) and
 * iptables-restore input into a Ruleset, and prints it back exactly as it was written.
 */
public final class IptablesCodec {

  /** A parsed dump and the lines that were skipped. */
  public record Result(Ruleset ruleset, List<ParseWarning> warnings) {}

  private static final Set<String> VALUE_PARAMS =
      Set.of(
          "-p",
          "--protocol",
          "-s",
          "--source",
          "--src",
          "-d",
          "--destination",
          "--dst",
          "-i",
          "--in-interface",
          "-o",
          "--out-interface");

  private static final Set<String> PROTO_FLAGS =
      Set.of(
          "--dport",
          "--sport",
          "--destination-port",
          "--source-port",
          "--tcp-flags",
          "--syn",
          "--tcp-option",
          "--icmp-type",
          "--chunk-types");

  private static final Map<String, Set<String>> MODULE_FLAGS =
      Map.of(
          "comment", Set.of("--comment"),
          "mark", Set.of("--mark"),
          "addrtype", Set.of("--src-type", "--dst-type", "--limit-iface-in", "--limit-iface-out"),
          "statistic", Set.of("--mode", "--probability", "--every", "--packet"),
          "nfacct", Set.of("--nfacct-name"));

  private IptablesCodec() {}

  /** Parses leniently: lines that cannot be understood become warnings naming source and line. */
  public static Result parse(String text, String source) {
    List<Table> tables = new ArrayList<>();
    List<ParseWarning> warnings = new ArrayList<>();
    List<String> pending = new ArrayList<>();
    String table = null;
    List<Line> lines = new ArrayList<>();
    String[] all = text.split("\n", -1);
    int n = all.length;
    if (n > 0 && all[n - 1].isEmpty()) {
      n--;
    }
    for (int i = 0; i < n; i++) {
      String line = all[i];
      int lineNo = i + 1;
      String t = line.strip();
      if (table == null) {
        if (t.startsWith("*") && t.length() > 1) {
          table = t.substring(1);
          lines = new ArrayList<>();
        } else if (t.isEmpty() || t.startsWith("#")) {
          pending.add(line);
        } else {
          warnings.add(new ParseWarning(source, lineNo, "not inside a table, skipped: " + t));
        }
        continue;
      }
      if (t.equals("COMMIT")) {
        tables.add(new Table(table, pending, lines));
        pending = new ArrayList<>();
        table = null;
        continue;
      }
      try {
        Line parsed = parseLine(t, table);
        if (parsed instanceof Line.RuleLine r) {
          parsed = new Line.RuleLine(r.rule(), line);
        }
        lines.add(parsed == null ? new Line.Verbatim(line) : parsed);
      } catch (IllegalArgumentException e) {
        warnings.add(new ParseWarning(source, lineNo, e.getMessage()));
      }
    }
    if (table != null) {
      warnings.add(new ParseWarning(source, n, "table " + table + " has no COMMIT (truncated?)"));
      tables.add(new Table(table, pending, lines));
      pending = new ArrayList<>();
    }
    return new Result(new Ruleset(tables, pending), warnings);
  }

  /** Parses strictly: the first line that cannot be understood is an error naming it. */
  public static Ruleset parseStrict(String text, String source) {
    Result r = parse(text, source);
    if (!r.warnings().isEmpty()) {
      throw new IllegalArgumentException(r.warnings().get(0).toString());
    }
    return r.ruleset();
  }

  /** Parses one rule written as "-A CHAIN ..." (as iptables-save prints it). */
  public static Rule parseRule(String text) {
    Line l = parseLine(text.strip(), "");
    if (l instanceof Line.RuleLine r) {
      return r.rule();
    }
    throw new IllegalArgumentException("not a rule: " + text);
  }

  private static Line parseLine(String t, String table) {
    if (t.isEmpty() || t.startsWith("#")) {
      return null;
    }
    if (t.startsWith(":")) {
      String[] f = t.substring(1).split("\\s+");
      if (f.length < 2 || f[0].isEmpty()) {
        throw new IllegalArgumentException("bad chain line: " + t);
      }
      return new Line.ChainDecl(f[0], f[1], f.length > 2 ? f[2] : null);
    }
    String counters = null;
    if (t.startsWith("[")) {
      int end = t.indexOf(']');
      if (end < 0 || !t.substring(1, end).matches("\\d+:\\d+")) {
        throw new IllegalArgumentException("bad counters: " + t);
      }
      counters = t.substring(0, end + 1);
      t = t.substring(end + 1).strip();
    }
    List<String> tok = tokenize(t);
    if (tok.size() >= 2 && (tok.get(0).equals("-X") || tok.get(0).equals("--delete-chain"))) {
      return new Line.DeleteChain(tok.get(1));
    }
    if (tok.size() < 2 || !(tok.get(0).equals("-A") || tok.get(0).equals("--append"))) {
      throw new IllegalArgumentException("not understood: " + t);
    }
    return new Line.RuleLine(new Rule(tok.get(1), parseArgs(tok.subList(2, tok.size())), counters));
  }

  private static List<Arg> parseArgs(List<String> tok) {
    List<Arg> args = new ArrayList<>();
    String module = "";
    String proto = "";
    String target = null;
    boolean neg = false;
    for (int i = 0; i < tok.size(); i++) {
      String s = tok.get(i);
      if (s.equals("!")) {
        neg = true;
        continue;
      }
      if (VALUE_PARAMS.contains(s)) {
        if (i + 1 >= tok.size()) {
          throw new IllegalArgumentException(s + " needs a value");
        }
        String raw = tok.get(++i);
        args.add(new Arg.Param(neg, s, new Value(unquote(raw), raw)));
        if (s.equals("-p") || s.equals("--protocol")) {
          proto = unquote(raw).toLowerCase(java.util.Locale.ROOT);
        }
      } else if (s.equals("-f") || s.equals("--fragment")) {
        args.add(new Arg.Param(neg, s, null));
      } else if (s.equals("-m") || s.equals("--match")) {
        if (i + 1 >= tok.size()) {
          throw new IllegalArgumentException("-m needs a module name");
        }
        module = tok.get(++i);
        args.add(new Arg.Module(module));
      } else if (s.equals("-j") || s.equals("--jump") || s.equals("-g") || s.equals("--goto")) {
        if (i + 1 >= tok.size()) {
          throw new IllegalArgumentException(s + " needs a target");
        }
        target = tok.get(++i);
        args.add(new Arg.Jump(target, s.startsWith("-g") || s.equals("--goto")));
      } else if (s.startsWith("-") && s.length() > 1) {
        List<Value> values = new ArrayList<>();
        while (i + 1 < tok.size() && isValue(tok.get(i + 1))) {
          String raw = tok.get(++i);
          values.add(new Value(unquote(raw), raw));
        }
        String owner;
        if (target != null) {
          owner = target;
        } else if (!proto.isEmpty()
            && PROTO_FLAGS.contains(s)
            && !MODULE_FLAGS.getOrDefault(module, Set.of(s)).contains(s)) {
          owner = proto;
        } else {
          owner = module.isEmpty() ? proto : module;
        }
        args.add(new Arg.Option(owner, neg, s, values, target != null));
      } else {
        throw new IllegalArgumentException("unexpected \"" + s + "\"");
      }
      neg = false;
    }
    if (neg) {
      throw new IllegalArgumentException("dangling \"!\"");
    }
    return args;
  }

  private static boolean isValue(String s) {
    return !s.equals("!") && !(s.startsWith("-") && s.length() > 1 && !s.matches("-\\d.*"));
  }

  /** Splits on whitespace, keeping double-quoted strings (with \" escapes) as one token. */
  static List<String> tokenize(String s) {
    List<String> out = new ArrayList<>();
    int i = 0;
    int n = s.length();
    while (i < n) {
      while (i < n && Character.isWhitespace(s.charAt(i))) {
        i++;
      }
      if (i >= n) {
        break;
      }
      int start = i;
      boolean quoted = false;
      while (i < n && (quoted || !Character.isWhitespace(s.charAt(i)))) {
        char c = s.charAt(i);
        if (c == '\\' && quoted && i + 1 < n) {
          i += 2;
          continue;
        }
        if (c == '"') {
          quoted = !quoted;
        }
        i++;
      }
      if (quoted) {
        throw new IllegalArgumentException("unterminated quote");
      }
      out.add(s.substring(start, i));
    }
    return out;
  }

  static String unquote(String raw) {
    if (raw.indexOf('"') < 0) {
      return raw;
    }
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < raw.length(); i++) {
      char c = raw.charAt(i);
      if (c == '\\' && i + 1 < raw.length()) {
        b.append(raw.charAt(++i));
      } else if (c != '"') {
        b.append(c);
      }
    }
    return b.toString();
  }
}
