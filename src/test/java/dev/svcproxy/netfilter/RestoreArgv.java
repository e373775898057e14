package dev.svcproxy.netfilter;

import java.util.ArrayList;
import java.util.List;

/**
 * The argument vector iptables-restore makes of a rule line, written from what the kernel's
 * iptables-restore (1.8.9) was seen to do, independently of the codec under test:
 *
 * <pre>
 *   --comment a\b            -> a\b        (outside quotes a backslash is a character)
 *   --comment "x\y\"z"       -> xy"z       (inside, it takes the next character literally)
 *   --comment "it\'s"        -> it's
 *   --comment ab"c d"e       -> "abc d", "e" (a closing quote ends the argument)
 *   --comment ""             -> ""         (an empty argument)
 *   tabs separate like spaces; a quote never closed swallows the rest of the line
 * </pre>
 */
final class RestoreArgv {
  private RestoreArgv() {}

  static List<String> of(String line) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    boolean inArg = false;
    boolean quote = false;
    boolean escaped = false;
    for (char c : line.toCharArray()) {
      if (quote) {
        if (escaped) {
          cur.append(c);
          escaped = false;
        } else if (c == '\\') {
          escaped = true;
        } else if (c == '"') {
          quote = false;
          out.add(cur.toString());
          cur.setLength(0);
          inArg = false;
        } else {
          cur.append(c);
        }
      } else if (c == '"') {
        quote = true;
        inArg = true;
      } else if (c == ' ' || c == '\t') {
        if (inArg) {
          out.add(cur.toString());
          cur.setLength(0);
          inArg = false;
        }
      } else {
        cur.append(c);
        inArg = true;
      }
    }
    if (quote) {
      throw new IllegalArgumentException("unterminated quote");
    }
    if (inArg) {
      out.add(cur.toString());
    }
    return out;
  }

  /** The argv a rule means, read off the model: what printing it must make iptables see. */
  static List<String> expected(Rule r) {
    List<String> out = new ArrayList<>(List.of("-A", r.chain()));
    for (Arg a : r.args()) {
      switch (a) {
        case Arg.Param p -> {
          if (p.negated()) {
            out.add("!");
          }
          out.add(p.flag());
          if (p.value() != null) {
            out.add(p.value().text());
          }
        }
        case Arg.Module m -> out.addAll(List.of("-m", m.name()));
        case Arg.Option o -> {
          if (o.negated()) {
            out.add("!");
          }
          out.add(o.flag());
          o.values().forEach(v -> out.add(v.text()));
        }
        case Arg.Jump j -> out.addAll(List.of(j.isGoto() ? "-g" : "-j", j.target()));
      }
    }
    return out;
  }

  /** The line without its leading "[packets:bytes]" counters. */
  static String withoutCounters(String line) {
    String t = line.strip();
    return t.startsWith("[") ? t.substring(t.indexOf(']') + 1).strip() : t;
  }
}
