package dev.svcproxy.sync.nftables;

import dev.svcproxy.nftables.BaseChain;
import dev.svcproxy.nftables.NftRule;
import dev.svcproxy.nftables.NftSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Rendered objects in the form {@code nft list} prints them back, so that a full sync can tell a
 * chain, set or map the kernel holds as rendered from one that differs. Only rewrites known to be
 * nft's own (mark arithmetic in hex, a one-element anonymous set without braces, named priorities)
 * are made; any other difference makes the object differ, which costs a rewrite but is never wrong.
 */
final class NftCanon {
  private NftCanon() {}

  private static final Pattern MARK_SET =
      Pattern.compile(
          "(?<![\\w-])(?:meta )?mark set (?:meta )?mark (or|xor|and|\\||\\^|&) (0x[0-9a-fA-F]+|\\d+)");
  private static final Pattern MARK_MATCH =
      Pattern.compile(
          "(?<![\\w-])(?:meta )?mark (?:and|&) (0x[0-9a-fA-F]+|\\d+) (==|!=) (0x[0-9a-fA-F]+|\\d+)");
  private static final Pattern SINGLE_SET = Pattern.compile("\\{ ([^\\s{},:]+) \\}");

  private static final Map<String, Integer> PRIORITIES =
      Map.of(
          "raw", -300,
          "mangle", -150,
          "dstnat", -100,
          "filter", 0,
          "security", 50,
          "srcnat", 100);

  /** A rule as nft prints it: body, then {@code comment "..."} when it has one. */
  static String rule(NftRule r) {
    String body = r.body();
    body =
        replace(
            MARK_SET,
            body,
            m -> "meta mark set meta mark " + op(m.group(1)) + " " + hex(m.group(2)));
    body =
        replace(
            MARK_MATCH,
            body,
            m -> "meta mark & " + hex(m.group(1)) + " " + m.group(2) + " " + hex(m.group(3)));
    body = replace(SINGLE_SET, body, m -> m.group(1));
    // knftables writes "a , b" in anonymous sets and vmaps; nft prints "a, b".
    body = body.replace(" , ", ", ");
    return r.comment().isEmpty() ? body : body + " comment \"" + r.comment() + "\"";
  }

  /** The rules of a chain as nft prints them. */
  static List<String> rules(List<NftRule> rules) {
    List<String> out = new ArrayList<>(rules.size());
    for (NftRule r : rules) {
      out.add(rule(r));
    }
    return out;
  }

  /** Whether a base-chain declaration matches what the kernel reports (priority as a number). */
  static boolean sameBase(Optional<BaseChain> desired, Optional<BaseChain> kernel) {
    if (desired.isEmpty() || kernel.isEmpty()) {
      return desired.isEmpty() && kernel.isEmpty();
    }
    BaseChain d = desired.get();
    BaseChain k = kernel.get();
    return d.type().equals(k.type())
        && d.hook().equals(k.hook())
        && priority(d.priority()).equals(priority(k.priority()));
  }

  /** A priority as a number: "-110", "dstnat", "dstnat - 10", "filter + 5". */
  static Optional<Integer> priority(String p) {
    String s = p.strip();
    try {
      return Optional.of(Integer.parseInt(s));
    } catch (NumberFormatException e) {
      // Named, possibly with an offset.
    }
    Matcher m = Pattern.compile("([a-z]+)\\s*(?:([+-])\\s*(\\d+))?").matcher(s);
    if (m.matches() && PRIORITIES.containsKey(m.group(1))) {
      int base = PRIORITIES.get(m.group(1));
      int off = m.group(3) == null ? 0 : Integer.parseInt(m.group(3));
      return Optional.of(m.group(2) != null && m.group(2).equals("-") ? base - off : base + off);
    }
    return Optional.empty();
  }

  /**
   * Whether a rendered set or map declaration matches the kernel's: type, timeout (in seconds),
   * flags (the kernel does not report "dynamic") and comment.
   */
  static boolean sameSet(NftSet desired, NftSet kernel) {
    List<String> df = new ArrayList<>(desired.flags());
    df.remove("dynamic");
    List<String> kf = new ArrayList<>(kernel.flags());
    kf.remove("dynamic");
    return desired.map() == kernel.map()
        && desired.type().replaceAll("\\s+", " ").equals(kernel.type())
        && seconds(desired.timeout()) == seconds(kernel.timeout())
        && new java.util.TreeSet<>(df).equals(new java.util.TreeSet<>(kf))
        && desired.comment().equals(kernel.comment());
  }

  /** "10800s", "3h", "1h30m", "" (none: 0) in seconds; -1 when unreadable. */
  static long seconds(String t) {
    if (t.isEmpty()) {
      return 0;
    }
    Matcher m = Pattern.compile("(\\d+)([dhms])").matcher(t);
    long total = 0;
    int end = 0;
    while (m.find()) {
      if (m.start() != end) {
        return -1;
      }
      end = m.end();
      long n = Long.parseLong(m.group(1));
      total +=
          switch (m.group(2)) {
            case "d" -> n * 86400;
            case "h" -> n * 3600;
            case "m" -> n * 60;
            default -> n;
          };
    }
    return end == t.length() ? total : -1;
  }

  private static String op(String o) {
    return switch (o) {
      case "or", "|" -> "|";
      case "xor", "^" -> "^";
      default -> "&";
    };
  }

  private static String hex(String v) {
    long n =
        v.startsWith("0x") || v.startsWith("0X")
            ? Long.parseLong(v.substring(2), 16)
            : Long.parseLong(v);
    return String.format("0x%08x", n);
  }

  private static String replace(
      Pattern p, String s, java.util.function.Function<Matcher, String> f) {
    Matcher m = p.matcher(s);
    if (!m.find()) {
      return s;
    }
    StringBuilder sb = new StringBuilder();
    do {
      m.appendReplacement(sb, Matcher.quoteReplacement(f.apply(m)));
    } while (m.find());
    m.appendTail(sb);
    return sb.toString();
  }
}
