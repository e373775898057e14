package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.AddrTypes;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.trace.NodeState;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Decides whether a rule's matches hold for a branch. Most matches are yes or no; statistic random
 * splits the branch (the result carries the probability it matches); a match the tracer cannot
 * evaluate is assumed not to match, and says so.
 */
final class RuleEvaluator {
  /**
   * The result of evaluating a rule's matches; {@code unknown} names a match that could not be
   * evaluated (and {@code reason} says why), which the caller takes as "does not match".
   */
  record Verdict(double matchProbability, String unknown, String reason) {
    static final Verdict YES = new Verdict(1.0, null, null);
    static final Verdict NO = new Verdict(0.0, null, null);

    static Verdict unknown(String match, String reason) {
      return new Verdict(0.0, match, reason);
    }
  }

  private final NodeState node;
  private final Routing routing;
  private final Map<String, Cidr> cidrs = new HashMap<>();

  RuleEvaluator(NodeState node, Routing routing) {
    this.node = node;
    this.routing = routing;
  }

  /** Module name and its options, in the order the rule loads them. */
  private record ModuleUse(String name, List<Arg.Option> options) {}

  Verdict evaluate(Rule rule, Branch b) {
    List<ModuleUse> modules = new ArrayList<>();
    Map<String, ModuleUse> byName = new HashMap<>();
    for (Arg a : rule.args()) {
      switch (a) {
        case Arg.Param p -> {
          boolean m;
          try {
            m = param(p, b);
          } catch (RuntimeException e) {
            return Verdict.unknown(describe(p), reason(e));
          }
          if (!m) {
            return Verdict.NO;
          }
        }
        case Arg.Module m -> {
          ModuleUse u = new ModuleUse(m.name(), new ArrayList<>());
          modules.add(u);
          byName.putIfAbsent(m.name(), u);
        }
        case Arg.Option o -> {
          if (o.ofTarget()) {
            continue;
          }
          ModuleUse u = byName.get(o.module());
          if (u == null) {
            // An option of the protocol named by -p without "-m proto".
            u = new ModuleUse(o.module(), new ArrayList<>());
            modules.add(u);
            byName.put(o.module(), u);
          }
          u.options().add(o);
        }
        case Arg.Jump j -> {}
      }
    }
    double p = 1.0;
    for (ModuleUse u : modules) {
      Verdict v;
      try {
        v = module(u, b);
      } catch (RuntimeException e) {
        // A pasted rule's bad value ("--dport abc", "--mark 0xZZ") must not end the trace.
        return Verdict.unknown(describe(u), reason(e));
      }
      if (v.unknown() != null) {
        return v;
      }
      p *= v.matchProbability();
      if (p == 0) {
        return Verdict.NO;
      }
    }
    return new Verdict(p, null, null);
  }

  private static String describe(Arg.Param p) {
    return (p.negated() ? "! " : "") + p.flag() + (p.value() == null ? "" : " " + p.value().text());
  }

  private static String describe(ModuleUse u) {
    StringBuilder s = new StringBuilder("-m ").append(u.name());
    for (Arg.Option o : u.options()) {
      s.append(o.negated() ? " ! " : " ").append(o.flag());
      if (!o.text().isEmpty()) {
        s.append(' ').append(o.text());
      }
    }
    return s.toString();
  }

  /** Why a value could not be used, in words (never a stack trace or a class name alone). */
  static String reason(RuntimeException e) {
    String m = e.getMessage();
    if (e instanceof NumberFormatException) {
      return m != null && m.startsWith("For input string: ")
          ? "not a number: " + m.substring("For input string: ".length())
          : "not a number" + (m == null ? "" : ": " + m);
    }
    return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
  }

  /** A port number, 0 to 65535. */
  static int port(String s) {
    String t = s.strip();
    if (!t.matches("\\d{1,5}") || Integer.parseInt(t) > 65535) {
      throw new IllegalArgumentException("not a port number: \"" + s + "\"");
    }
    return Integer.parseInt(t);
  }

  private boolean param(Arg.Param p, Branch b) {
    String v = p.value() == null ? "" : p.value().text();
    boolean m =
        switch (p.flag()) {
          case "-s", "--source", "--src" -> anyCidr(v, b.src);
          case "-d", "--destination", "--dst" -> anyCidr(v, b.dst);
          case "-p", "--protocol" -> protocol(v, b.proto);
          case "-i", "--in-interface" -> iface(v, b.inIface.isEmpty() ? "lo" : b.inIface);
          case "-o", "--out-interface" -> iface(v, b.outIface);
          case "-f", "--fragment" -> false;
          default -> true;
        };
    return p.negated() != m;
  }

  private boolean anyCidr(String list, String ip) {
    for (String c : list.split(",")) {
      if (cidr(c).contains(ip)) {
        return true;
      }
    }
    return false;
  }

  private Cidr cidr(String s) {
    return cidrs.computeIfAbsent(s, Cidr::parse);
  }

  private static boolean protocol(String want, String have) {
    String w = want.toLowerCase(Locale.ROOT);
    return w.equals("all") || w.equals("0") || w.equals(have) || w.equals(protoNumber(have));
  }

  private static String protoNumber(String p) {
    return switch (p) {
      case "tcp" -> "6";
      case "udp" -> "17";
      case "icmp" -> "1";
      case "sctp" -> "132";
      default -> "";
    };
  }

  static boolean iface(String pattern, String name) {
    if (name == null || name.isEmpty()) {
      return false;
    }
    if (pattern.endsWith("+")) {
      return name.startsWith(pattern.substring(0, pattern.length() - 1));
    }
    return pattern.equals(name);
  }

  private Verdict module(ModuleUse u, Branch b) {
    switch (u.name()) {
      case "comment", "nfacct", "limit", "hashlimit", "connlimit" -> {
        return Verdict.YES;
      }
      case "tcp", "udp", "sctp", "udplite" -> {
        if (!u.name().equals(b.proto)) {
          return Verdict.NO;
        }
        return bool(ports(u, b));
      }
      case "multiport" -> {
        return bool(multiport(u, b));
      }
      case "icmp" -> {
        for (Arg.Option o : u.options()) {
          if (o.flag().equals("--icmp-type")) {
            String t = o.text();
            boolean m =
                b.proto.equals("icmp")
                    && (t.equals("any")
                        || t.equals("8")
                        || t.startsWith("echo-request")
                        || t.equals("8/0"));
            if (o.negated() == m) {
              return Verdict.NO;
            }
          }
        }
        return bool(b.proto.equals("icmp"));
      }
      case "conntrack", "state" -> {
        return bool(conntrack(u, b));
      }
      case "mark" -> {
        return bool(markMatch(u.options(), b.mark));
      }
      case "connmark" -> {
        return bool(markMatch(u.options(), b.ctMark));
      }
      case "addrtype" -> {
        return bool(addrtype(u, b));
      }
      case "statistic" -> {
        return statistic(u);
      }
      case "recent" -> {
        return recent(u, b);
      }
      case "set" -> {
        return set(u, b);
      }
      case "iprange" -> {
        return bool(iprange(u, b));
      }
      case "physdev" -> {
        return physdev(u, b);
      }
      case "policy" -> {
        return policy(u);
      }
      case "rpfilter" -> {
        return bool(rpfilter(u, b));
      }
      default -> {
        return Verdict.unknown(describe(u), "the tracer does not know this match");
      }
    }
  }

  private static Verdict bool(boolean m) {
    return m ? Verdict.YES : Verdict.NO;
  }

  private static boolean ports(ModuleUse u, Branch b) {
    for (Arg.Option o : u.options()) {
      boolean m =
          switch (o.flag()) {
            case "--dport", "--destination-port" -> inRange(o.text(), b.dport);
            case "--sport", "--source-port" -> inRange(o.text(), b.sport);
            // A traced TCP packet is the connection's first: SYN only.
            case "--syn" -> b.ctState.equals("NEW");
            case "--tcp-flags" -> tcpFlags(o.text(), b.ctState.equals("NEW"));
            default -> true;
          };
      if (o.negated() == m) {
        return false;
      }
    }
    return true;
  }

  private static boolean tcpFlags(String spec, boolean syn) {
    String[] f = spec.split("\\s+");
    if (f.length < 2) {
      return true;
    }
    Set<String> mask = Set.of(f[0].split(","));
    Set<String> set = Set.of(f[1].split(","));
    Set<String> have = syn ? Set.of("SYN") : Set.of("ACK");
    for (String flag : List.of("SYN", "ACK", "FIN", "RST", "URG", "PSH")) {
      if (mask.contains(flag) || mask.contains("ALL")) {
        boolean want = set.contains(flag) || set.contains("ALL");
        if (want != have.contains(flag)) {
          return false;
        }
      }
    }
    return true;
  }

  /** Whether {@code port} is in a port list; every part is checked, even after a hit. */
  static boolean inRange(String spec, int port) {
    boolean in = false;
    for (String part : spec.split(",")) {
      int colon = part.indexOf(':');
      if (colon >= 0) {
        int lo = colon == 0 ? 0 : port(part.substring(0, colon));
        int hi = colon == part.length() - 1 ? 65535 : port(part.substring(colon + 1));
        in |= port >= lo && port <= hi;
      } else {
        in |= port(part) == port;
      }
    }
    return in;
  }

  private static boolean multiport(ModuleUse u, Branch b) {
    for (Arg.Option o : u.options()) {
      boolean m =
          switch (o.flag()) {
            case "--dports", "--destination-ports" -> inRange(o.text(), b.dport);
            case "--sports", "--source-ports" -> inRange(o.text(), b.sport);
            case "--ports" -> inRange(o.text(), b.dport) || inRange(o.text(), b.sport);
            default -> true;
          };
      if (o.negated() == m) {
        return false;
      }
    }
    return true;
  }

  private boolean conntrack(ModuleUse u, Branch b) {
    for (Arg.Option o : u.options()) {
      boolean m;
      switch (o.flag()) {
        case "--ctstate", "--state" -> {
          m = false;
          for (String s : o.text().split(",")) {
            m |=
                switch (s) {
                  case "DNAT" -> b.dnatDone;
                  case "SNAT" -> b.snatDone;
                  case "NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED" ->
                      s.equals(b.ctState);
                  default -> throw new IllegalArgumentException("unknown conntrack state " + s);
                };
          }
        }
        case "--ctstatus" -> {
          m = false;
          for (String s : o.text().split(",")) {
            m |=
                switch (s) {
                  case "NONE" -> !b.ctState.equals("ESTABLISHED");
                  case "SEEN_REPLY", "ASSURED", "CONFIRMED" -> b.ctState.equals("ESTABLISHED");
                  case "EXPECTED" -> false;
                  default -> throw new IllegalArgumentException("unknown conntrack status " + s);
                };
          }
        }
        case "--ctorigdst" -> m = cidr(o.text()).contains(b.origDst);
        case "--ctorigsrc" -> m = cidr(o.text()).contains(b.origSrc);
        case "--ctorigdstport" -> m = inRange(o.text(), b.origDport);
        case "--ctdir" -> m = o.text().equals(b.replyDirection ? "REPLY" : "ORIGINAL");
        case "--ctproto" -> m = protocol(o.text(), b.proto);
        default -> m = true;
      }
      if (o.negated() == m) {
        return false;
      }
    }
    return true;
  }

  private static boolean markMatch(List<Arg.Option> opts, long mark) {
    for (Arg.Option o : opts) {
      if (!o.flag().equals("--mark")) {
        continue;
      }
      String[] f = o.text().split("/");
      long v = num(f[0]);
      long m = f.length > 1 ? num(f[1]) : 0xFFFFFFFFL;
      boolean match = (mark & m) == v;
      if (o.negated() == match) {
        return false;
      }
    }
    return true;
  }

  /** A 32-bit mark value, decimal or 0x-hex, as iptables accepts it. */
  static long num(String s) {
    String t = s.strip().toLowerCase(Locale.ROOT);
    long v;
    try {
      v = t.startsWith("0x") ? Long.parseLong(t.substring(2), 16) : Long.parseLong(t);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a number: \"" + s + "\"", e);
    }
    if (v < 0 || v > 0xFFFFFFFFL) {
      throw new IllegalArgumentException("not a 32-bit value: \"" + s + "\"");
    }
    return v;
  }

  private boolean addrtype(ModuleUse u, Branch b) {
    boolean limitIn = false;
    boolean limitOut = false;
    for (Arg.Option o : u.options()) {
      limitIn |= o.flag().equals("--limit-iface-in");
      limitOut |= o.flag().equals("--limit-iface-out");
    }
    for (Arg.Option o : u.options()) {
      String ip;
      if (o.flag().equals("--src-type")) {
        ip = b.src;
      } else if (o.flag().equals("--dst-type")) {
        ip = b.dst;
      } else {
        continue;
      }
      String type = routing.addrType(ip);
      if ((limitIn || limitOut) && type.equals("LOCAL")) {
        // Limited to the interface: local only if the address is on that interface.
        String dev = limitIn ? b.inIface : b.outIface;
        boolean onDev =
            node.iface(dev)
                .map(i -> i.addresses().stream().anyMatch(a -> a.ip().equals(ip)))
                .orElse(false);
        type = onDev ? "LOCAL" : "UNICAST";
      }
      List<String> want = List.of(o.text().split(","));
      for (String t : want) {
        if (!AddrTypes.ALL.contains(t)) {
          throw new IllegalArgumentException("unknown address type " + t);
        }
      }
      boolean m = want.contains(type);
      if (o.negated() == m) {
        return false;
      }
    }
    return true;
  }

  /**
   * The kernel's match probability for {@code --probability text}: libxt_statistic stores lround(p
   * * 2^31) in a u32 and xt_statistic matches when a 31-bit random number is below it, so the
   * probability is that integer over 2^31 (iptables-save prints it back with %.11f: 1/3 as
   * 0.33333333349).
   */
  static double kernelProbability(String text) {
    double p;
    try {
      p = Double.parseDouble(text.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a probability: \"" + text + "\"", e);
    }
    if (!(p >= 0 && p <= 1)) {
      throw new IllegalArgumentException("probability " + text + " is not between 0 and 1");
    }
    return Math.round(p * 2147483648.0) / 2147483648.0;
  }

  private static Verdict statistic(ModuleUse u) {
    String mode = "random";
    double p = 1.0;
    long every = 1;
    boolean neg = false;
    for (Arg.Option o : u.options()) {
      switch (o.flag()) {
        case "--mode" -> mode = o.text();
        case "--probability" -> {
          p = kernelProbability(o.text());
          neg = o.negated();
        }
        case "--every" -> {
          every = Long.parseLong(o.text().strip());
          if (every < 1 || every > 0xFFFFFFFFL) {
            throw new IllegalArgumentException("--every " + o.text() + " is not a positive count");
          }
          neg = o.negated();
        }
        case "--packet" -> {
          long packet = Long.parseLong(o.text().strip());
          if (packet < 0) {
            throw new IllegalArgumentException("--packet " + o.text() + " is negative");
          }
        }
        default -> {}
      }
    }
    switch (mode) {
      case "random" -> {}
      case "nth" -> {
        // xt_statistic counts every packet that reaches the rule and matches when the counter
        // (started at --packet) wraps at --every: one packet in every n. Which one this is depends
        // on the counter, which no bundle holds, so the branch gets the long-run share 1/n.
        p = 1.0 / every;
      }
      default -> throw new IllegalArgumentException("unknown statistic mode " + mode);
    }
    return new Verdict(neg ? 1 - p : p, null, null);
  }

  private Verdict recent(ModuleUse u, Branch b) {
    String name = "DEFAULT";
    boolean check = false;
    boolean rdest = false;
    for (Arg.Option o : u.options()) {
      switch (o.flag()) {
        case "--name" -> name = o.text();
        case "--rcheck", "--update" -> check = true;
        case "--rdest" -> rdest = true;
        default -> {}
      }
    }
    if (!check) {
      return Verdict.YES; // --set and --remove always match.
    }
    List<String> list = node.recent().get(name);
    if (list == null) {
      return Verdict.NO;
    }
    return bool(list.contains(rdest ? b.dst : b.src));
  }

  private Verdict set(ModuleUse u, Branch b) {
    for (Arg.Option o : u.options()) {
      if (!o.flag().equals("--match-set")) {
        continue;
      }
      String[] f = o.text().split("\\s+");
      NodeState.IpSet s = node.ipsets().get(f[0]);
      if (s == null) {
        return Verdict.unknown(
            "-m set --match-set " + o.text(), "set " + f[0] + " is not in the bundle");
      }
      String[] dirs = f.length > 1 ? f[1].split(",") : new String[] {"src"};
      boolean m = IpSets.contains(s, dirs, b, node.ipsets());
      if (o.negated() == m) {
        return Verdict.NO;
      }
    }
    return Verdict.YES;
  }

  private static boolean iprange(ModuleUse u, Branch b) {
    for (Arg.Option o : u.options()) {
      String ip =
          o.flag().equals("--src-range") ? b.src : o.flag().equals("--dst-range") ? b.dst : null;
      if (ip == null) {
        continue;
      }
      String[] f = o.text().split("-");
      long v = Ip.ipv4ToLong(ip);
      boolean m = v >= ipv4(f[0]) && v <= ipv4(f.length > 1 ? f[1] : f[0]);
      if (o.negated() == m) {
        return false;
      }
    }
    return true;
  }

  private static long ipv4(String s) {
    long v = Ip.ipv4ToLong(s.strip());
    if (v < 0) {
      throw new IllegalArgumentException("not an IPv4 address: \"" + s + "\"");
    }
    return v;
  }

  private Verdict physdev(ModuleUse u, Branch b) {
    for (Arg.Option o : u.options()) {
      boolean m;
      switch (o.flag()) {
        case "--physdev-is-bridged", "--physdev-is-in", "--physdev-is-out" -> m = b.physdevBridged;
        default -> {
          // Which bridge port a frame used is not in a bundle (it needs the FDB and the peer's
          // MAC).
          return Verdict.unknown(
              "-m physdev " + o.flag() + " " + o.text(),
              "which bridge port a frame used is not in a bundle");
        }
      }
      if (o.negated() == m) {
        return Verdict.NO;
      }
    }
    return Verdict.YES;
  }

  /** IPsec policy: a bundle carries no xfrm state, so traffic is taken to have no policy. */
  private static Verdict policy(ModuleUse u) {
    for (Arg.Option o : u.options()) {
      if (o.flag().equals("--pol")) {
        boolean m = o.text().equals("none");
        return bool(o.negated() != m);
      }
    }
    return Verdict.unknown("-m policy", "no --pol");
  }

  /** rpfilter: does the route back to the source leave by the interface the packet came in on. */
  private boolean rpfilter(ModuleUse u, Branch b) {
    boolean loose = false;
    boolean invert = false;
    boolean acceptLocal = false;
    for (Arg.Option o : u.options()) {
      loose |= o.flag().equals("--loose");
      invert |= o.flag().equals("--invert");
      acceptLocal |= o.flag().equals("--accept-local");
    }
    boolean ok;
    if (b.inIface.isEmpty() || b.inIface.equals("lo")) {
      ok = true;
    } else if (routing.isLocalAddress(b.src)) {
      ok = acceptLocal;
    } else {
      Routing.Decision back = routing.lookup(b.src, null, "", b.mark);
      ok = back.usable() && (loose || back.dev().equals(b.inIface));
    }
    return invert != ok;
  }
}
