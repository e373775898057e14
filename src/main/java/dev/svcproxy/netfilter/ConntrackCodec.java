package dev.svcproxy.netfilter;

import dev.svcproxy.model.Ip;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads conntrack entries as `conntrack -L` (plain or {@code -o extended}) and
 * /proc/net/nf_conntrack print them: family, protocol, timeout, state, the original and reply
 * tuples, flags such as [ASSURED] and [UNREPLIED], mark, zone and the rest as written.
 */
public final class ConntrackCodec {

  /**
   * One direction of a connection: addresses, ports (null for a protocol without them), and its
   * other fields (icmp type/code/id, gre keys, packets/bytes counters) as written.
   */
  public record Tuple(
      String src, String dst, Integer sport, Integer dport, Map<String, String> extra) {
    public Tuple {
      extra = Map.copyOf(extra);
    }
  }

  /**
   * One entry. {@code family} is "ipv4"/"ipv6" when the line says (extended output and
   * /proc/net/nf_conntrack), else null; {@code state} is null for a protocol without states; {@code
   * zone} is null when the line shows none; {@code other} keeps the remaining key=value fields
   * (use, secctx, labels, ...) in written order.
   */
  public record Entry(
      String family,
      String protocol,
      int protocolNumber,
      long timeout,
      String state,
      Tuple original,
      Tuple reply,
      Set<String> flags,
      long mark,
      Integer zone,
      Map<String, String> other) {
    public Entry {
      flags = Set.copyOf(flags);
      other = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(other));
    }

    /** No reply seen yet ([UNREPLIED]). */
    public boolean unreplied() {
      return flags.contains("UNREPLIED");
    }

    public boolean assured() {
      return flags.contains("ASSURED");
    }
  }

  /** The entries read and the lines that were skipped. */
  public record Result(List<Entry> entries, List<ParseWarning> warnings) {
    public Result {
      entries = List.copyOf(entries);
      warnings = List.copyOf(warnings);
    }
  }

  /** Fields that belong to a tuple; the first other field after the reply tuple ends it. */
  private static final Set<String> TUPLE_KEYS =
      Set.of(
          "src", "dst", "sport", "dport", "type", "code", "id", "packets", "bytes", "srckey",
          "dstkey", "vtag");

  private ConntrackCodec() {}

  /**
   * Parses leniently: the tool's summary lines are passed over, other lines that are not an entry
   * become warnings naming {@code source} and the line.
   */
  public static Result parse(String text, String source) {
    List<Entry> out = new ArrayList<>();
    List<ParseWarning> warnings = new ArrayList<>();
    int n = 0;
    for (String line : text.split("\n", -1)) {
      n++;
      String t = line.strip();
      if (isSummary(t)) {
        continue;
      }
      try {
        out.add(parseLine(t));
      } catch (IllegalArgumentException e) {
        warnings.add(new ParseWarning(source, n, e.getMessage() + ", entry skipped: " + t));
      }
    }
    return new Result(out, warnings);
  }

  /**
   * True for a blank line or the tool's own summary line ("conntrack v1.4.7 ...: N flow entries").
   */
  public static boolean isSummary(String line) {
    String t = line.strip();
    return t.isEmpty() || t.startsWith("conntrack v") || t.contains("flow entries have been shown");
  }

  /** Parses strictly: the first line that is not an entry is an error naming it. */
  public static List<Entry> parseStrict(String text, String source) {
    Result r = parse(text, source);
    if (!r.warnings().isEmpty()) {
      throw new IllegalArgumentException(r.warnings().get(0).toString());
    }
    return r.entries();
  }

  /** One entry line. */
  public static Entry parseLine(String line) {
    String[] f = line.strip().split("\\s+");
    int p = 0;
    String family = null;
    if (f[0].equals("ipv4") || f[0].equals("ipv6")) {
      family = f[0];
      if (f.length < 2 || !f[1].matches("\\d+")) {
        throw new IllegalArgumentException("not a conntrack entry");
      }
      p = 2;
    }
    if (f.length < p + 3 || f[p].contains("=") || !f[p + 1].matches("\\d{1,3}")) {
      throw new IllegalArgumentException("not a conntrack entry");
    }
    String proto = f[p];
    int protoNumber = Integer.parseInt(f[p + 1]);
    if (!f[p + 2].matches("\\d{1,10}")) {
      throw new IllegalArgumentException("timeout " + f[p + 2] + " is not a number");
    }
    long timeout = Long.parseLong(f[p + 2]);
    int i = p + 3;
    String state = null;
    if (i < f.length && f[i].matches("[A-Z][A-Z_0-9]*")) {
      state = f[i++];
    }
    List<Map<String, String>> tuples = new ArrayList<>();
    Map<String, String> cur = null;
    boolean tuplesDone = false;
    Set<String> flags = new LinkedHashSet<>();
    Map<String, String> other = new LinkedHashMap<>();
    for (; i < f.length; i++) {
      String tok = f[i];
      if (tok.startsWith("[") && tok.endsWith("]") && tok.length() > 2) {
        flags.add(tok.substring(1, tok.length() - 1));
        continue;
      }
      int eq = tok.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("not key=value: " + tok);
      }
      String k = tok.substring(0, eq);
      String v = tok.substring(eq + 1);
      if (!tuplesDone) {
        if (k.equals("src") && tuples.size() < 2) {
          cur = new LinkedHashMap<>();
          tuples.add(cur);
          cur.put(k, v);
          continue;
        }
        if (cur == null) {
          throw new IllegalArgumentException(k + "= before the first tuple");
        }
        // The original tuple runs to the reply's src=; the reply ends at the first field that is
        // not a tuple's (mark=, use=, zone=, ...).
        if (tuples.size() == 1 || (TUPLE_KEYS.contains(k) && !cur.containsKey(k))) {
          cur.put(k, v);
          continue;
        }
        tuplesDone = true;
      }
      other.put(k, v);
    }
    if (tuples.size() < 2) {
      throw new IllegalArgumentException("conntrack entry without both tuples");
    }
    long mark = 0;
    if (other.containsKey("mark")) {
      String m = other.remove("mark");
      if (!m.matches("\\d{1,10}") || Long.parseLong(m) > 0xFFFFFFFFL) {
        throw new IllegalArgumentException("mark=" + m + " is not a mark");
      }
      mark = Long.parseLong(m);
    }
    Integer zone = null;
    if (other.containsKey("zone")) {
      String z = other.remove("zone");
      if (!z.matches("\\d{1,5}") || Integer.parseInt(z) > 65535) {
        throw new IllegalArgumentException("zone=" + z + " is not a zone");
      }
      zone = Integer.parseInt(z);
    }
    return new Entry(
        family,
        proto,
        protoNumber,
        timeout,
        state,
        tuple(tuples.get(0)),
        tuple(tuples.get(1)),
        flags,
        mark,
        zone,
        other);
  }

  private static Tuple tuple(Map<String, String> m) {
    Map<String, String> extra = new LinkedHashMap<>(m);
    String src = extra.remove("src");
    String dst = extra.remove("dst");
    if (dst == null) {
      throw new IllegalArgumentException("tuple from " + src + " without dst=");
    }
    for (String[] a : List.of(new String[] {"src", src}, new String[] {"dst", dst})) {
      if (!Ip.isIpv4(a[1]) && !Ip.isIpv6(a[1])) {
        throw new IllegalArgumentException(a[0] + "=" + a[1] + " is not an IP address");
      }
    }
    return new Tuple(
        src,
        dst,
        port(extra.remove("sport"), "sport"),
        port(extra.remove("dport"), "dport"),
        extra);
  }

  private static Integer port(String v, String key) {
    if (v == null) {
      return null;
    }
    if (!v.matches("\\d{1,5}") || Integer.parseInt(v) > 65535) {
      throw new IllegalArgumentException(key + "=" + v + " is not a port");
    }
    return Integer.parseInt(v);
  }
}
