package dev.svcproxy.netfilter;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A canonical key of a rule's meaning, so that a rule as written to iptables-restore and the same
 * rule as iptables-save prints it back compare equal: long and short flags, "/32" host masks, the
 * kernel's rounding of statistic probabilities, MARK's --or-mark/--xor-mark spelled as --set-xmark,
 * recent's default --mask/--rsource, quoting and element order all fall away.
 */
public final class RuleCanon {
  private static final Map<String, String> FLAGS =
      Map.ofEntries(
          Map.entry("--source", "-s"),
          Map.entry("--src", "-s"),
          Map.entry("--destination", "-d"),
          Map.entry("--dst", "-d"),
          Map.entry("--protocol", "-p"),
          Map.entry("--in-interface", "-i"),
          Map.entry("--out-interface", "-o"),
          Map.entry("--fragment", "-f"),
          Map.entry("--destination-port", "--dport"),
          Map.entry("--source-port", "--sport"));

  private RuleCanon() {}

  /** The canonical key of a rule, counters and chain excluded. */
  public static String key(Rule rule) {
    try {
      return canonical(rule);
    } catch (NumberFormatException e) {
      // A value this class cannot normalise: compare the rule as written.
      return rule.print().substring(rule.chain().length() + 4);
    }
  }

  private static String canonical(Rule rule) {
    List<String> parts = new ArrayList<>();
    String jump = "";
    List<String> targetOpts = new ArrayList<>();
    boolean recent = false;
    boolean recentMask = false;
    boolean recentSide = false;
    for (Arg a : rule.args()) {
      switch (a) {
        case Arg.Param p -> {
          String flag = FLAGS.getOrDefault(p.flag(), p.flag());
          String v = p.value() == null ? "" : p.value().text();
          if (flag.equals("-s") || flag.equals("-d")) {
            v = v.endsWith("/32") ? v.substring(0, v.length() - 3) : v;
          } else if (flag.equals("-p")) {
            v = v.toLowerCase(Locale.ROOT);
          }
          parts.add("P" + (p.negated() ? "!" : "") + flag + "=" + v);
        }
        case Arg.Module m -> {
          parts.add("M" + m.name());
          recent |= m.name().equals("recent");
        }
        case Arg.Jump j -> jump = (j.isGoto() ? "g:" : "j:") + j.target();
        case Arg.Option o -> {
          String flag = FLAGS.getOrDefault(o.flag(), o.flag());
          if (o.ofTarget()) {
            targetOpts.add(targetOption(o.module(), flag, o.text()));
          } else {
            recentMask |= flag.equals("--mask");
            recentSide |= flag.equals("--rsource") || flag.equals("--rdest");
            parts.add(
                "O"
                    + o.module()
                    + (o.negated() ? "!" : "")
                    + flag
                    + "="
                    + matchValue(flag, o.text()));
          }
        }
      }
    }
    if (recent && !recentMask) {
      parts.add("Orecent--mask=255.255.255.255");
    }
    if (recent && !recentSide) {
      parts.add("Orecent--rsource=");
    }
    Collections.sort(parts);
    Collections.sort(targetOpts);
    return String.join(" ", parts) + " " + jump + " " + String.join(" ", targetOpts);
  }

  private static String matchValue(String flag, String v) {
    return switch (flag) {
      case "--probability" -> Long.toString(Math.round(Double.parseDouble(v) * 2147483648.0));
      case "--mark" -> markPair(v);
      case "--ctstate", "--ctstatus" -> {
        List<String> s = new ArrayList<>(List.of(v.split(",")));
        Collections.sort(s);
        yield String.join(",", s);
      }
      default -> v;
    };
  }

  private static String targetOption(String target, String flag, String v) {
    if (target.equals("MARK") || target.equals("CONNMARK")) {
      switch (flag) {
        case "--or-mark" -> {
          return "--set-xmark=" + num(v) + "/" + num(v);
        }
        case "--xor-mark" -> {
          return "--set-xmark=" + num(v) + "/0";
        }
        case "--and-mark" -> {
          return "--set-xmark=0/" + ((~num(v)) & 0xFFFFFFFFL);
        }
        case "--set-mark" -> {
          String[] f = marks(v);
          long mask = f.length > 1 ? num(f[1]) : 0xFFFFFFFFL;
          return "--set-xmark=" + num(f[0]) + "/" + mask;
        }
        case "--set-xmark" -> {
          return "--set-xmark=" + markPair(v);
        }
        default -> {
          return flag + "=" + v;
        }
      }
    }
    return flag + "=" + v;
  }

  private static String markPair(String v) {
    String[] f = marks(v);
    long mask = f.length > 1 ? num(f[1]) : 0xFFFFFFFFL;
    return num(f[0]) + "/" + mask;
  }

  /** "value[/mask]"; anything else cannot be normalised, and the rule compares as written. */
  private static String[] marks(String v) {
    String[] f = v.split("/", -1);
    if (f.length > 2) {
      throw new NumberFormatException("not value[/mask]: " + v);
    }
    return f;
  }

  private static long num(String s) {
    String t = s.strip().toLowerCase(Locale.ROOT);
    return t.startsWith("0x") ? Long.parseLong(t.substring(2), 16) : Long.parseLong(t);
  }
}
