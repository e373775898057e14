package dev.svcproxy.netfilter;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
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

  /**
   * Options whose one argument is free text, taken whatever it looks like, as getopt gives an
   * option its required argument.
   */
  private static final Set<String> FREE_TEXT =
      Set.of("--comment", "--log-prefix", "--nflog-prefix", "--name", "--nfacct-name");

  /** Match modules that take the protocol options themselves ("-m tcp --dport 80"). */
  private static final Set<String> PROTO_MODULES =
      Set.of("tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmp6", "icmpv6");

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
    boolean skipping = false;
    for (int i = 0; i < n; i++) {
      String line = all[i];
      int lineNo = i + 1;
      if (line.endsWith("\r")) {
        // A dump saved with CRLF line ends: iptables-restore would read the CR as part of the
        // last token, so it is not kept.
        line = line.substring(0, line.length() - 1);
      }
      String t = line.strip();
      if (table != null && t.startsWith("*") && t.length() > 1) {
        // Two dumps pasted one after the other, the first cut short: close it and go on.
        if (!skipping) {
          warnings.add(
              new ParseWarning(
                  source, lineNo, "table " + table + " has no COMMIT before this table header"));
          tables.add(new Table(table, pending, lines));
          pending = new ArrayList<>();
        }
        table = null;
        skipping = false;
      }
      if (table == null) {
        if (t.startsWith("*") && t.length() > 1) {
          try {
            table = SafeText.name("table name", t.substring(1));
            lines = new ArrayList<>();
          } catch (UnsafeTextException e) {
            warnings.add(
                new ParseWarning(
                    source, lineNo, e.getMessage() + "; lines up to its COMMIT are skipped"));
            skipping = true;
            table = "";
          }
        } else if (t.isEmpty() || t.startsWith("#")) {
          pending.add(line);
        } else {
          warnings.add(
              new ParseWarning(
                  source, lineNo, "not inside a table, skipped: " + SafeText.quote(t)));
        }
        continue;
      }
      if (t.equals("COMMIT")) {
        if (!skipping) {
          tables.add(new Table(table, pending, lines));
        }
        pending = new ArrayList<>();
        table = null;
        skipping = false;
        continue;
      }
      if (skipping) {
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
    if (table != null && !skipping) {
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
    throw new IllegalArgumentException("not a rule: " + SafeText.quote(text));
  }

  private static Line parseLine(String t, String table) {
    if (t.isEmpty() || t.startsWith("#")) {
      return null;
    }
    if (t.startsWith(":")) {
      String[] f = t.substring(1).split("[ \t]+");
      if (f.length < 2 || f[0].isEmpty()) {
        throw new IllegalArgumentException(
            "a chain line is \":NAME POLICY [packets:bytes]\", not " + SafeText.quote(t));
      }
      return new Line.ChainDecl(f[0], f[1], f.length > 2 ? f[2] : null);
    }
    String counters = null;
    if (t.startsWith("[")) {
      int end = t.indexOf(']');
      if (end < 0 || !t.substring(1, end).matches("\\d+:\\d+")) {
        throw new IllegalArgumentException(
            "counters are \"[packets:bytes]\", not " + SafeText.quote(t));
      }
      counters = t.substring(0, end + 1);
      t = t.substring(end + 1).strip();
    }
    List<Token> tok = tokenize(t);
    String command = tok.isEmpty() ? "" : tok.get(0).text();
    boolean delete = command.equals("-X") || command.equals("--delete-chain");
    boolean append = command.equals("-A") || command.equals("--append");
    if ((delete || append) && tok.size() < 2) {
      throw new IllegalArgumentException(command + " needs a chain name");
    }
    if (delete) {
      return new Line.DeleteChain(tok.get(1).text());
    }
    if (!append) {
      throw new IllegalArgumentException("not understood: " + SafeText.quote(t));
    }
    return new Line.RuleLine(
        new Rule(tok.get(1).text(), parseArgs(tok.subList(2, tok.size())), counters));
  }

  private static List<Arg> parseArgs(List<Token> tok) {
    List<Arg> args = new ArrayList<>();
    String module = "";
    String proto = "";
    String target = null;
    boolean neg = false;
    for (int i = 0; i < tok.size(); i++) {
      String s = tok.get(i).text();
      if (s.equals("!")) {
        if (neg) {
          throw new IllegalArgumentException("\"!\" twice");
        }
        neg = true;
        continue;
      }
      if (VALUE_PARAMS.contains(s)) {
        if (i + 1 >= tok.size()) {
          throw new IllegalArgumentException(s + " needs a value");
        }
        Token v = tok.get(++i);
        args.add(new Arg.Param(neg, s, new Value(v.text(), v.raw())));
        if (s.equals("-p") || s.equals("--protocol")) {
          proto = v.text().toLowerCase(Locale.ROOT);
        }
      } else if (s.equals("-f") || s.equals("--fragment")) {
        args.add(new Arg.Param(neg, s, null));
      } else if (s.equals("-m") || s.equals("--match")) {
        if (i + 1 >= tok.size()) {
          throw new IllegalArgumentException(s + " needs a module name");
        }
        module = tok.get(++i).text();
        args.add(new Arg.Module(module));
      } else if (s.equals("-j") || s.equals("--jump") || s.equals("-g") || s.equals("--goto")) {
        if (i + 1 >= tok.size()) {
          throw new IllegalArgumentException(s + " needs a target");
        }
        target = tok.get(++i).text();
        args.add(new Arg.Jump(target, s.equals("-g") || s.equals("--goto")));
      } else if (s.startsWith("-") && s.length() > 1) {
        List<Value> values = new ArrayList<>();
        if (FREE_TEXT.contains(s)) {
          // iptables-save prints "-x" bare: only the option's one argument can say what it is.
          if (i + 1 >= tok.size()) {
            throw new IllegalArgumentException(s + " needs a value");
          }
          Token v = tok.get(++i);
          values.add(new Value(v.text(), v.raw()));
        } else {
          while (i + 1 < tok.size() && isValue(tok.get(i + 1).raw())) {
            Token v = tok.get(++i);
            values.add(new Value(v.text(), v.raw()));
          }
        }
        String owner;
        if (target != null) {
          owner = target;
        } else if (!proto.isEmpty() && PROTO_FLAGS.contains(s) && !PROTO_MODULES.contains(module)) {
          // iptables loads the protocol's match implicitly for its options ("-p tcp --dport 80"),
          // whatever other module was loaded last.
          owner = proto;
        } else {
          owner = module.isEmpty() ? proto : module;
        }
        args.add(new Arg.Option(owner, neg, s, values, target != null));
      } else {
        throw new IllegalArgumentException("unexpected " + SafeText.quote(s));
      }
      neg = false;
    }
    if (neg) {
      throw new IllegalArgumentException("\"!\" at the end of the rule negates nothing");
    }
    return args;
  }

  /**
   * A rule's elements as an argv (without "-A CHAIN"): each value one argument, unquoted, as
   * iptables-restore would pass them after reading the printed line.
   */
  public static List<String> argv(Rule rule) {
    List<String> out = new ArrayList<>();
    for (Arg a : rule.args()) {
      switch (a) {
        case Arg.Param p -> {
          if (p.negated()) {
            out.add("!");
          }
          out.add(p.flag());
          if (p.value() != null) {
            out.add(p.value().check("value of " + p.flag()).text());
          }
        }
        case Arg.Module m -> out.addAll(List.of("-m", m.name()));
        case Arg.Option o -> {
          if (o.negated()) {
            out.add("!");
          }
          out.add(o.flag());
          for (Value v : o.values()) {
            out.add(v.check("value of " + o.flag()).text());
          }
        }
        case Arg.Jump j -> out.addAll(List.of(j.isGoto() ? "-g" : "-j", j.target()));
      }
    }
    return out;
  }

  /** True for a bare token a parser reads as a flag ("-j", "--dport"), not a value ("-1"). */
  static boolean looksLikeFlag(String s) {
    return s.startsWith("-") && s.length() > 1 && !(s.charAt(1) >= '0' && s.charAt(1) <= '9');
  }

  private static boolean isValue(String raw) {
    return !raw.equals("!") && !looksLikeFlag(raw);
  }

  /** One token of a line: as written, and as iptables-restore passes it on (quotes removed). */
  record Token(String raw, String text) {}

  /**
   * Splits a line as iptables-restore does: at spaces and tabs outside double quotes; inside quotes
   * a backslash takes the next character literally and the closing quote ends the token; outside
   * quotes a backslash is an ordinary character.
   */
  static List<Token> tokenize(String s) {
    List<Token> out = new ArrayList<>();
    int i = 0;
    int n = s.length();
    while (i < n) {
      while (i < n && (s.charAt(i) == ' ' || s.charAt(i) == '\t')) {
        i++;
      }
      if (i >= n) {
        break;
      }
      int start = i;
      StringBuilder text = new StringBuilder();
      boolean open = false;
      while (i < n) {
        char c = s.charAt(i);
        if (open) {
          i++;
          if (c == '\\' && i < n) {
            text.append(s.charAt(i++));
          } else if (c == '"') {
            open = false;
            break;
          } else if (c != '\\') {
            text.append(c);
          }
        } else if (c == '"') {
          open = true;
          i++;
        } else if (c == ' ' || c == '\t') {
          break;
        } else {
          text.append(c);
          i++;
        }
      }
      if (open) {
        throw new IllegalArgumentException(
            "unterminated quote in " + SafeText.quote(s.substring(start)));
      }
      out.add(new Token(s.substring(start, i), text.toString()));
    }
    return out;
  }
}
