package dev.svcproxy.netfilter;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.match.PortRange;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Reads `ipset save` and `ipset list` output into sets with their options and entries, and prints
 * `ipset restore` input; a saved dump prints back exactly as it was read.
 */
public final class IpsetCodec {

  /**
   * One option of a set header or an entry, in written order: a keyword with its value ("hashsize
   * 1024", "comment \"x\"") or a flag alone ("counters", "nomatch"; value null).
   */
  public record Option(String key, String value) {
    public Option {
      SafeText.name("ipset option", key);
      if (value != null) {
        SafeText.value("value of ipset option " + key, value);
      }
    }

    String print() {
      if (value == null) {
        return key;
      }
      if (key.equals("comment")) {
        if (value.contains("\"")) {
          // ipset reads a comment up to the next quote and has no escape for one.
          throw new UnsafeTextException("ipset comment", value, "holds a double quote");
        }
        return key + " \"" + value + "\"";
      }
      return key + " " + SafeText.name("value of ipset option " + key, value);
    }
  }

  /** One member: the element ("10.0.0.1,tcp:80") and its options (timeout, comment, ...). */
  public record Entry(String element, List<Option> options) {
    public Entry {
      SafeText.name("ipset element", element);
      options = List.copyOf(options);
    }

    public Optional<String> option(String key) {
      return options.stream().filter(o -> o.key().equals(key)).map(Option::value).findFirst();
    }

    public Optional<String> comment() {
      return option("comment");
    }

    /** Seconds left, when the set has timeouts (0 = permanent). */
    public Optional<Long> timeout() {
      return option("timeout").map(Long::parseLong);
    }
  }

  /** One set: name, type ("hash:ip,port"), header options in written order, entries. */
  public record IpSet(String name, String type, List<Option> options, List<Entry> entries) {
    public IpSet {
      SafeText.name("ipset name", name);
      SafeText.name("ipset type of " + name, type);
      options = List.copyOf(options);
      entries = List.copyOf(entries);
    }

    public Optional<String> option(String key) {
      return options.stream().filter(o -> o.key().equals(key)).map(Option::value).findFirst();
    }

    /** "inet" or "inet6" for the hash types (inet when not said); empty for bitmap and list. */
    public Optional<String> family() {
      return option("family")
          .or(() -> type.startsWith("hash:") ? Optional.of("inet") : Optional.empty());
    }

    public Optional<Long> hashsize() {
      return option("hashsize").map(Long::parseLong);
    }

    public Optional<Long> maxelem() {
      return option("maxelem").map(Long::parseLong);
    }

    /** The default timeout of entries, when the set was created with timeouts. */
    public Optional<Long> timeout() {
      return option("timeout").map(Long::parseLong);
    }

    /** Whether entries may carry comments. */
    public boolean comments() {
      return options.stream().anyMatch(o -> o.key().equals("comment"));
    }

    /** The elements alone, in order. */
    public List<String> members() {
      return entries.stream().map(Entry::element).toList();
    }
  }

  /** The sets read and the lines that were skipped. */
  public record Result(List<IpSet> sets, List<ParseWarning> warnings) {
    public Result {
      sets = List.copyOf(sets);
      warnings = List.copyOf(warnings);
    }
  }

  /** Keywords that stand alone in a header or an entry; every other keyword takes a value. */
  private static final Set<String> FLAGS =
      Set.of("counters", "comment", "skbinfo", "forceadd", "nomatch");

  private IpsetCodec() {}

  /**
   * Parses `ipset save` or `ipset list` output leniently: lines that cannot be understood, and
   * members of sets never created, become warnings naming {@code source} and the line.
   */
  public static Result parse(String text, String source) {
    Map<String, Builder> sets = new LinkedHashMap<>();
    List<ParseWarning> warnings = new ArrayList<>();
    String[] lines = text.split("\n", -1);
    Builder listing = null;
    boolean members = false;
    boolean repeated = false;
    for (int i = 0; i < lines.length; i++) {
      int n = i + 1;
      String line =
          lines[i].endsWith("\r") ? lines[i].substring(0, lines[i].length() - 1) : lines[i];
      String t = line.strip();
      try {
        if (t.startsWith("Name: ")) {
          String name = t.substring(6).strip();
          members = false;
          Builder seen = sets.get(name);
          repeated = seen != null && !seen.implicit;
          listing = seen != null ? seen : new Builder(name);
          listing.implicit = false;
          sets.put(listing.name, listing);
          if (repeated) {
            // As a second "create": the first header stands, the members join it.
            throw new IllegalArgumentException("set " + name + " listed twice");
          }
          continue;
        }
        if (listing != null && !members) {
          if (t.startsWith("Type: ")) {
            if (!repeated) {
              listing.type = t.substring(6).strip();
            }
          } else if (t.startsWith("Header:")) {
            if (!repeated) {
              listing.options.addAll(options(tokens(t.substring(7)), 0, "Header"));
            }
          } else if (t.equals("Members:")) {
            members = true;
          } else if (!t.matches("(Revision|Size in memory|References|Number of entries): .*")) {
            throw new IllegalArgumentException("not an ipset list line: " + SafeText.quote(t));
          }
          continue;
        }
        if (listing != null) {
          if (t.isEmpty()) {
            listing = null;
            continue;
          }
          List<String> tok = tokens(t);
          listing.entries.add(new Entry(tok.get(0), options(tok, 1, tok.get(0))));
          continue;
        }
        if (t.isEmpty()) {
          continue;
        }
        List<String> tok = tokens(t);
        String cmd = tok.get(0);
        if ((cmd.equals("create") || cmd.equals("-N")) && tok.size() >= 3) {
          Builder seen = sets.get(tok.get(1));
          if (seen != null && !seen.implicit) {
            throw new IllegalArgumentException("set " + seen.name + " created twice");
          }
          // Members added before the create (warned then) join the set it declares.
          Builder b = seen != null ? seen : new Builder(tok.get(1));
          b.implicit = false;
          b.type = tok.get(2);
          b.options.addAll(options(tok, 3, "create " + b.name));
          sets.put(b.name, b);
        } else if ((cmd.equals("add") || cmd.equals("-A")) && tok.size() >= 3) {
          Builder b = sets.get(tok.get(1));
          Entry e = new Entry(tok.get(2), options(tok, 3, tok.get(2)));
          if (b == null || b.implicit) {
            // Kept, so that a create further down still gets it; a set never created is dropped.
            if (b == null) {
              b = new Builder(tok.get(1));
              b.implicit = true;
              sets.put(b.name, b);
            }
            b.entries.add(e);
            throw new IllegalArgumentException("member of an undeclared set " + tok.get(1));
          }
          b.entries.add(e);
        } else {
          throw new IllegalArgumentException("not understood: " + SafeText.quote(t));
        }
      } catch (IllegalArgumentException e) {
        warnings.add(new ParseWarning(source, n, e.getMessage()));
      }
    }
    List<IpSet> out = new ArrayList<>();
    for (Builder b : sets.values()) {
      if (b.implicit) {
        continue; // Its add lines were warned about.
      }
      if (b.type == null) {
        warnings.add(new ParseWarning(source, lines.length, "set " + b.name + " has no Type"));
        continue;
      }
      out.add(new IpSet(b.name, b.type, b.options, b.entries));
    }
    return new Result(out, warnings);
  }

  /** Parses strictly: the first line that cannot be understood is an error naming it. */
  public static List<IpSet> parseStrict(String text, String source) {
    Result r = parse(text, source);
    if (!r.warnings().isEmpty()) {
      throw new IllegalArgumentException(r.warnings().get(0).toString());
    }
    return r.sets();
  }

  /** `ipset restore` input: each set's create line, then its add lines, as `ipset save` writes. */
  public static String print(List<IpSet> sets) {
    StringBuilder b = new StringBuilder();
    for (IpSet s : sets) {
      b.append("create ").append(s.name()).append(' ').append(s.type());
      for (Option o : s.options()) {
        b.append(' ').append(o.print());
      }
      b.append('\n');
      for (Entry e : s.entries()) {
        b.append("add ").append(s.name()).append(' ').append(e.element());
        for (Option o : e.options()) {
          b.append(' ').append(o.print());
        }
        b.append('\n');
      }
    }
    return b.toString();
  }

  /**
   * The dimensions of a set type, in element order: "hash:ip,port" is [ip, port]; a list:set has
   * one, "set".
   */
  public static List<String> dimensions(String type) {
    int colon = type.indexOf(':');
    return colon < 0 ? List.of("ip") : List.of(type.substring(colon + 1).split(","));
  }

  /** An element split into its parts, one per dimension ("10.0.0.1,tcp:80" is two). */
  public static List<String> parts(String element) {
    return List.of(element.split(",", -1));
  }

  /** One part of an element, typed by its dimension. */
  public sealed interface Part {}

  /** An ip or net part: a network ("10.0.0.0/8"; a bare address is a host). */
  public record Net(Cidr network) implements Part {}

  /** An ip part written as an IPv4 range "a-b" (as `ipset add` accepts it), as numbers. */
  public record Range(long from, long to) implements Part {}

  /**
   * A port part: "80" (tcp), "udp:53", "tcp:80-90"; for icmp "icmp:8/0" or "icmp:echo-request", the
   * type and code as {@code (type << 8) | code}, as ipset stores them.
   */
  public record Port(String protocol, PortRange range) implements Part {}

  /** An iface part, "physdev:" when it names a bridge port. */
  public record Iface(String name, boolean physdev) implements Part {}

  /** A mark part. */
  public record Mark(long value) implements Part {}

  /** A member of a list:set. */
  public record SetName(String name) implements Part {}

  /**
   * The typed parts of an element of a set of {@code type}, one per dimension, read as ipset reads
   * them (lib/parse.c: a port without protocol is tcp).
   */
  public static List<Part> typedParts(String type, String element) {
    List<String> dims = type.startsWith("list:") ? List.of("set") : dimensions(type);
    List<String> parts = parts(element);
    if (parts.size() != dims.size()) {
      throw new IllegalArgumentException(
          "element " + element + " has not the " + dims.size() + " parts of " + type);
    }
    List<Part> out = new ArrayList<>();
    for (int i = 0; i < dims.size(); i++) {
      out.add(part(dims.get(i), parts.get(i)));
    }
    return out;
  }

  private static Part part(String dim, String v) {
    return switch (dim) {
      case "ip", "net" -> {
        int dash = v.indexOf('-');
        if (dash > 0 && v.indexOf(':') < 0) {
          long from = Ip.ipv4ToLong(v.substring(0, dash));
          long to = Ip.ipv4ToLong(v.substring(dash + 1));
          if (from < 0 || to < 0 || from > to) {
            throw new IllegalArgumentException("not an address range: " + v);
          }
          yield new Range(from, to);
        }
        Cidr c = Cidr.parse(v);
        yield new Net(c.ipv6() ? c : c.masked());
      }
      case "port" -> port(v);
      case "iface" ->
          v.startsWith("physdev:") ? new Iface(v.substring(8), true) : new Iface(v, false);
      case "mark" -> new Mark(TypedRule.u32(v));
      case "set" -> new SetName(v);
      default -> throw new IllegalArgumentException("unknown set dimension " + dim);
    };
  }

  private static Port port(String v) {
    int colon = v.indexOf(':');
    String proto = colon < 0 ? "tcp" : v.substring(0, colon).toLowerCase(java.util.Locale.ROOT);
    String p = colon < 0 ? v : v.substring(colon + 1);
    if (proto.equals("icmp")) {
      int slash = p.indexOf('/');
      int t;
      int c;
      if (slash > 0) {
        t = Integer.parseInt(p.substring(0, slash));
        c = Integer.parseInt(p.substring(slash + 1));
      } else {
        int[] tc = Icmp.byName(p);
        t = tc[0];
        c = tc[1];
      }
      int k = (t << 8) | c;
      return new Port(proto, new PortRange(k, k));
    }
    int dash = p.indexOf('-');
    int lo = TypedRule.port(dash < 0 ? p : p.substring(0, dash));
    int hi = dash < 0 ? lo : TypedRule.port(p.substring(dash + 1));
    return new Port(proto, new PortRange(lo, hi));
  }

  /**
   * The element as `ipset save` prints it once `ipset add` of {@code element} to a set of {@code
   * type} succeeded (ipset 7.17, kernel 6.x): a net's host bits cleared, a /32 without its prefix,
   * the protocol's lower-case name ("6:80", "TCP:80" and "80" are all "tcp:80"), a bitmap:port's
   * port bare. An element that stands for several (an address or port range), or that this codec
   * cannot read, comes back as given.
   *
   * @throws IllegalArgumentException when ipset refuses it, as for a /0 net ("The value of the CIDR
   *     parameter of the IP address is invalid")
   */
  public static String kernelForm(String type, String element) {
    List<Part> typed;
    try {
      typed = typedParts(type, element);
    } catch (IllegalArgumentException e) {
      // What this codec cannot read (a service name for a port, ...) ipset may still take.
      return element;
    }
    List<String> dims = type.startsWith("list:") ? List.of("set") : dimensions(type);
    List<String> raw = parts(element);
    for (int i = 0; i < typed.size(); i++) {
      if (typed.get(i) instanceof Net(Cidr c) && !c.ipv6() && c.prefixLength() == 0) {
        throw new IllegalArgumentException(
            "ipset refuses the /0 net " + raw.get(i) + ": the CIDR parameter is invalid");
      }
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < typed.size(); i++) {
      Part p = typed.get(i);
      String r = raw.get(i);
      switch (p) {
        case Net(Cidr c) when c.ipv6() -> out.add(r);
        case Net(Cidr c) -> {
          if (c.prefixLength() == 32) {
            out.add(c.address());
          } else if (dims.get(i).equals("net")) {
            out.add(c.address() + "/" + c.prefixLength());
          } else {
            // An ip part with a prefix adds every address of it.
            return element;
          }
        }
        case Range rg -> {
          return element;
        }
        case Port(String proto, PortRange range) -> {
          if (range.lo() != range.hi() || proto.equals("icmp")) {
            return element;
          }
          out.add(
              type.startsWith("bitmap:")
                  ? Integer.toString(range.lo())
                  : PROTOCOL_NAMES.getOrDefault(proto, proto) + ":" + range.lo());
        }
        default -> out.add(r);
      }
    }
    return String.join(",", out);
  }

  /** The names ipset prints for protocols given by number (getprotobynumber). */
  private static final Map<String, String> PROTOCOL_NAMES =
      Map.of("1", "icmp", "6", "tcp", "17", "udp", "132", "sctp", "136", "udplite");

  private static final class Builder {
    final String name;
    String type;
    boolean implicit;
    final List<Option> options = new ArrayList<>();
    final List<Entry> entries = new ArrayList<>();

    Builder(String name) {
      this.name = SafeText.name("ipset name", name);
    }
  }

  /**
   * Keyword options from {@code from} on. "comment" is a flag in a header and takes a value in an
   * entry: a header is named "create ..." or "Header".
   */
  private static List<Option> options(List<String> tok, int from, String where) {
    boolean header = where.startsWith("create ") || where.equals("Header");
    List<Option> out = new ArrayList<>();
    for (int i = from; i < tok.size(); i++) {
      String k = tok.get(i);
      boolean flag = FLAGS.contains(k) && !(k.equals("comment") && !header);
      if (flag) {
        out.add(new Option(k, null));
      } else if (i + 1 < tok.size()) {
        out.add(new Option(k, tok.get(++i)));
      } else {
        throw new IllegalArgumentException(k + " needs a value (" + where + ")");
      }
    }
    return out;
  }

  /** Splits at spaces outside double quotes; quotes are removed (ipset has no escapes). */
  private static List<String> tokens(String s) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    boolean quoted = false;
    boolean any = false;
    for (char c : s.toCharArray()) {
      if (c == '"') {
        quoted = !quoted;
        any = true;
      } else if (!quoted && (c == ' ' || c == '\t')) {
        if (any) {
          out.add(cur.toString());
          cur.setLength(0);
          any = false;
        }
      } else {
        cur.append(c);
        any = true;
      }
    }
    if (quoted) {
      throw new IllegalArgumentException("unterminated quote in " + SafeText.quote(s));
    }
    if (any) {
      out.add(cur.toString());
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException("empty line");
    }
    return out;
  }
}
