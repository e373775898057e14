package dev.svcproxy.netfilter;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.match.MarkMask;
import dev.svcproxy.netfilter.match.Match;
import dev.svcproxy.netfilter.match.PortRange;
import dev.svcproxy.netfilter.target.Target;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * A rule with its matches and target interpreted: the one place option text becomes values.
 * Built-in matches (-p, -s, -d, -i, -o, -f) come first, then the modules in the order the rule
 * loads them, as the kernel checks the IP header before running the matches.
 */
public record TypedRule(Rule rule, List<Match> matches, Target target) {
  private static final long U32 = 0xFFFFFFFFL;

  /** Target extensions that are never user chains, so a bare "-j NAME" of them is not a jump. */
  private static final Set<String> EXTENSIONS =
      Set.of(
          "NFLOG",
          "ULOG",
          "TRACE",
          "AUDIT",
          "NFQUEUE",
          "QUEUE",
          "TCPMSS",
          "CHECKSUM",
          "TOS",
          "DSCP",
          "TTL",
          "CLASSIFY",
          "SET",
          "TPROXY",
          "CLUSTERIP",
          "SECMARK",
          "CONNSECMARK",
          "IDLETIMER",
          "LED",
          "NETMAP",
          "TEE",
          "HMARK",
          "RATEEST",
          "SYNPROXY",
          "ECN",
          "HL",
          "CONNTRACK");

  public TypedRule {
    matches = List.copyOf(matches);
  }

  /**
   * Parses strictly: a value iptables would refuse is an error naming the rule, the element and the
   * reason.
   */
  public static TypedRule parse(Rule rule) {
    TypedRule t = lenient(rule);
    for (Match m : t.matches) {
      if (m instanceof Match.Invalid i) {
        throw error(rule, i.written(), i.reason());
      }
    }
    if (t.target instanceof Target.Invalid i) {
      throw error(rule, "-j " + i.name(), i.reason());
    }
    return t;
  }

  /**
   * Parses leniently: an element with a bad value becomes {@link Match.Invalid} (or {@link
   * Target.Invalid}), so that a pasted rule can still be looked at.
   */
  public static TypedRule lenient(Rule rule) {
    return read(rule, new ArrayList<>());
  }

  /**
   * One element iptables would refuse: the rule's elements that make it up (a parameter, a module
   * with its options, or the target with its options), how it reads, and why it is refused.
   */
  public record Problem(List<Arg> args, String written, String reason) {
    public Problem {
      args = List.copyOf(args);
    }
  }

  /** The elements of a rule iptables would refuse, in rule order, target last. */
  public static List<Problem> problems(Rule rule) {
    List<Problem> out = new ArrayList<>();
    read(rule, out);
    return out;
  }

  private static TypedRule read(Rule rule, List<Problem> problems) {
    List<Match> params = new ArrayList<>();
    List<Use> uses = new ArrayList<>();
    Map<String, Use> last = new LinkedHashMap<>();
    List<Arg.Option> targetOpts = new ArrayList<>();
    Arg.Jump jump = null;
    for (Arg a : rule.args()) {
      switch (a) {
        case Arg.Param p -> {
          Match m = param(p);
          params.add(m);
          if (m instanceof Match.Invalid i) {
            problems.add(new Problem(List.of(p), i.written(), i.reason()));
          }
        }
        case Arg.Module m -> {
          Use u = new Use(m.name(), true, new ArrayList<>(), m);
          uses.add(u);
          last.put(m.name(), u);
        }
        case Arg.Option o -> {
          if (o.ofTarget()) {
            targetOpts.add(o);
          } else {
            Use u = last.get(o.module());
            if (u == null) {
              // An option of the protocol named by -p without "-m proto", loaded implicitly.
              u = new Use(o.module(), false, new ArrayList<>(), null);
              uses.add(u);
              last.put(o.module(), u);
            }
            u.options.add(o);
          }
        }
        case Arg.Jump j -> jump = j;
      }
    }
    List<Match> out = new ArrayList<>(params);
    Match.Protocol proto =
        params.stream()
            .filter(Match.Protocol.class::isInstance)
            .map(Match.Protocol.class::cast)
            .findFirst()
            .orElse(null);
    for (Use u : uses) {
      try {
        protocolNeeded(u.name, proto);
        out.add(module(u.name, u.options));
      } catch (IllegalArgumentException e) {
        Match.Invalid i = new Match.Invalid(describe(u.name, u.options), message(e));
        out.add(i);
        List<Arg> args = new ArrayList<>();
        if (u.module != null) {
          args.add(u.module);
        }
        args.addAll(u.options);
        problems.add(new Problem(args, i.written(), i.reason()));
      }
    }
    Target t;
    if (jump == null) {
      t = new Target.None();
    } else {
      try {
        t = target(jump, targetOpts);
        if (t instanceof Target.Reject r
            && r.with().equals("tcp-reset")
            && (proto == null || proto.negated() || !proto.matches("tcp"))) {
          // ipt_REJECT reject_tg_check: tcp-reset only for "-p tcp" (EINVAL otherwise).
          throw new IllegalArgumentException("--reject-with tcp-reset needs -p tcp");
        }
      } catch (IllegalArgumentException e) {
        t = new Target.Invalid(jump.target(), message(e));
        List<Arg> args = new ArrayList<>();
        args.add(jump);
        args.addAll(targetOpts);
        StringBuilder w = new StringBuilder(jump.print());
        targetOpts.forEach(o -> w.append(' ').append(o.print()));
        problems.add(new Problem(args, w.toString(), message(e)));
      }
    }
    return new TypedRule(rule, out, t);
  }

  /** The first match of a type, if the rule has one. */
  public <M extends Match> Optional<M> match(Class<M> type) {
    return matches.stream().filter(type::isInstance).map(type::cast).findFirst();
  }

  private record Use(String name, boolean loaded, List<Arg.Option> options, Arg.Module module) {}

  private static final Set<String> PORT_PROTOCOLS = Set.of("tcp", "udp", "udplite", "sctp", "dccp");

  /**
   * The protocol modules and multiport need the rule's -p (libxt_tcp & co: "TCP match requires '-p
   * tcp'"; libxt_multiport check_proto: "multiport needs `-p tcp', ...").
   */
  private static void protocolNeeded(String module, Match.Protocol proto) {
    if (PORT_PROTOCOLS.contains(module)) {
      if (proto == null || (!proto.negated() && !proto.matches(module))) {
        throw new IllegalArgumentException(
            module.toUpperCase(Locale.ROOT) + " match requires '-p " + module + "'");
      }
    } else if (module.equals("multiport")) {
      if (proto == null) {
        throw new IllegalArgumentException(
            "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'");
      }
      if (proto.negated() || PORT_PROTOCOLS.stream().noneMatch(proto::matches)) {
        throw new IllegalArgumentException(
            "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP");
      }
    }
  }

  private static IllegalArgumentException error(Rule rule, String element, String reason) {
    return new IllegalArgumentException(
        "rule " + SafeText.quote(rule.print()) + ": " + element + ": " + reason);
  }

  private static String message(IllegalArgumentException e) {
    String m = e.getMessage();
    return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
  }

  /** A module and its options as written, for messages: "-m mark --mark 0xZZ". */
  static String describe(String module, List<Arg.Option> opts) {
    StringBuilder s = new StringBuilder("-m ").append(module);
    for (Arg.Option o : opts) {
      s.append(o.negated() ? " ! " : " ").append(o.flag());
      if (!o.text().isEmpty()) {
        s.append(' ').append(o.text());
      }
    }
    return s.toString();
  }

  // ---- built-in matches

  private static Match param(Arg.Param p) {
    String v = p.value() == null ? "" : p.value().text();
    try {
      return switch (p.flag()) {
        case "-s", "--source", "--src" -> address(true, v, p);
        case "-d", "--destination", "--dst" -> address(false, v, p);
        case "-p", "--protocol" -> new Match.Protocol(p.negated(), v.toLowerCase(Locale.ROOT));
        case "-i", "--in-interface" -> new Match.Interface(true, p.negated(), v);
        case "-o", "--out-interface" -> new Match.Interface(false, p.negated(), v);
        case "-f", "--fragment" -> new Match.Fragment(p.negated());
        default -> throw new IllegalArgumentException("unknown parameter " + p.flag());
      };
    } catch (IllegalArgumentException e) {
      return new Match.Invalid(
          (p.negated() ? "! " : "") + p.flag() + (p.value() == null ? "" : " " + v), message(e));
    }
  }

  private static Match address(boolean source, String list, Arg.Param p) {
    List<Cidr> nets = networks(list, p);
    if (nets.stream().noneMatch(c -> c.prefixLength() < 0)) {
      return new Match.Address(source, p.negated(), nets);
    }
    // A non-contiguous mask: every entry as address/mask (only IPv4 has dotted masks).
    List<MarkMask> entries = new ArrayList<>();
    for (String s : list.split(",", -1)) {
      int slash = s.indexOf('/');
      long addr = Ip.ipv4ToLong(slash < 0 ? s : s.substring(0, slash));
      long mask = maskOf(slash < 0 ? "32" : s.substring(slash + 1));
      if (addr < 0 || mask < 0) {
        throw new IllegalArgumentException("not an IPv4 address/mask: " + s);
      }
      entries.add(new MarkMask(addr & mask, mask));
    }
    return new Match.AddressMask(source, p.negated(), entries);
  }

  /** A prefix length or a dotted mask as a 32-bit mask; -1 when neither. */
  private static long maskOf(String m) {
    if (digits(m, 2) && Integer.parseInt(m) <= 32) {
      int len = Integer.parseInt(m);
      return len == 0 ? 0 : (0xFFFFFFFFL << (32 - len)) & U32;
    }
    return Ip.isIpv4(m) ? Ip.ipv4ToLong(m) : -1;
  }

  private static List<Cidr> networks(String list, Arg.Param p) {
    if (p.negated() && list.contains(",")) {
      throw new IllegalArgumentException(
          "! not allowed with multiple source or destination IP addresses");
    }
    List<Cidr> out = new ArrayList<>();
    for (String s : list.split(",", -1)) {
      out.add(network(s));
    }
    return out;
  }

  /**
   * A network with host bits cleared; IPv4 read here directly, as it is on every rule. A dotted
   * mask (xtables_ipparse_multiple) that is a prefix becomes that prefix; one that is not gives a
   * prefix length of -1, for {@link #address} to read the entries as address/mask.
   */
  private static Cidr network(String s) {
    int slash = s.indexOf('/');
    if (slash > 0 && Ip.isIpv4(s.substring(slash + 1)) && Ip.isIpv4(s.substring(0, slash))) {
      long mask = Ip.ipv4ToLong(s.substring(slash + 1));
      int len = Long.bitCount(mask);
      long prefix = len == 0 ? 0 : (0xFFFFFFFFL << (32 - len)) & U32;
      if (mask != prefix) {
        return new Cidr(s.substring(0, slash), -1, false);
      }
      return network(s.substring(0, slash) + "/" + len);
    }
    if (s.indexOf(':') < 0 && (slash < 0 || digits(s.substring(slash + 1), 2))) {
      String addr = slash < 0 ? s : s.substring(0, slash);
      int len = slash < 0 ? 32 : Integer.parseInt(s.substring(slash + 1));
      long v = Ip.ipv4ToLong(addr);
      if (v >= 0 && len <= 32) {
        long mask = len == 0 ? 0 : (0xFFFFFFFFL << (32 - len)) & 0xFFFFFFFFL;
        return new Cidr((v & mask) == v ? addr : Ip.longToIpv4(v & mask), len, false);
      }
    }
    Cidr c = Cidr.parse(s);
    return c.ipv6() ? c : c.masked();
  }

  // ---- modules

  private static Match module(String name, List<Arg.Option> opts) {
    return switch (name) {
      case "tcp", "udp", "sctp", "udplite", "dccp" -> ports(name, opts);
      case "icmp" -> icmp(opts);
      case "multiport" -> multiport(opts);
      case "mark" -> {
        Arg.Option o = required(opts, "--mark");
        yield new Match.Mark(o.negated(), markMask(o.text()));
      }
      case "connmark" -> {
        Arg.Option o = required(opts, "--mark");
        yield new Match.ConnMark(o.negated(), markMask(o.text()));
      }
      case "conntrack" -> conntrack(opts);
      case "state" -> {
        Arg.Option o = required(opts, "--state");
        yield new Match.State(ctState(o));
      }
      case "statistic" -> statistic(opts);
      case "addrtype" -> addrtype(opts);
      case "set" -> set(opts);
      case "recent" -> recent(opts);
      case "comment" -> new Match.Comment(required(opts, "--comment").text());
      case "physdev" -> physdev(opts);
      case "nfacct" -> new Match.Nfacct(required(opts, "--nfacct-name").text());
      case "limit" -> limit(opts);
      case "iprange" -> iprange(opts);
      case "policy" -> policy(opts);
      case "rpfilter" -> rpfilter(opts);
      default -> new Match.Unknown(name, opts(opts));
    };
  }

  private static List<Match.Opt> opts(List<Arg.Option> opts) {
    return opts.stream()
        .map(
            o ->
                new Match.Opt(o.negated(), o.flag(), o.values().stream().map(Value::text).toList()))
        .toList();
  }

  private static Arg.Option required(List<Arg.Option> opts, String flag) {
    for (Arg.Option o : opts) {
      if (o.flag().equals(flag)) {
        return o;
      }
    }
    throw new IllegalArgumentException("no " + flag);
  }

  private static Match ports(String proto, List<Arg.Option> opts) {
    Match.PortTest sport = null;
    Match.PortTest dport = null;
    Match.TcpFlags flags = null;
    List<Match.Opt> other = new ArrayList<>();
    for (Arg.Option o : opts) {
      switch (o.flag()) {
        case "--dport", "--destination-port" ->
            dport = new Match.PortTest(o.negated(), portRange(o.text()));
        case "--sport", "--source-port" ->
            sport = new Match.PortTest(o.negated(), portRange(o.text()));
        case "--syn" ->
            flags =
                new Match.TcpFlags(o.negated(), Set.of("FIN", "SYN", "RST", "ACK"), Set.of("SYN"));
        case "--tcp-flags" -> {
          if (o.values().size() != 2) {
            throw new IllegalArgumentException("--tcp-flags takes a mask and the flags set");
          }
          flags =
              new Match.TcpFlags(
                  o.negated(),
                  tcpFlagSet(o.values().get(0).text()),
                  tcpFlagSet(o.values().get(1).text()));
        }
        default -> other.add(opts(List.of(o)).get(0));
      }
    }
    return new Match.Ports(proto, sport, dport, flags, other);
  }

  private static Set<String> tcpFlagSet(String s) {
    Set<String> out = new TreeSet<>();
    for (String f : s.toUpperCase(Locale.ROOT).split(",")) {
      switch (f) {
        case "ALL" -> out.addAll(Match.TcpFlags.ALL);
        case "NONE" -> {}
        default -> {
          if (!Match.TcpFlags.ALL.contains(f)) {
            throw new IllegalArgumentException("unknown TCP flag " + f);
          }
          out.add(f);
        }
      }
    }
    return out;
  }

  private static Match icmp(List<Arg.Option> opts) {
    for (Arg.Option o : opts) {
      if (o.flag().equals("--icmp-type")) {
        int[] tc = Icmp.parse(o.text());
        return new Match.Icmp(o.negated(), tc[0], tc[1], tc[2]);
      }
    }
    return new Match.Icmp(false, 0xFF, 0, 0xFF);
  }

  private static Match multiport(List<Arg.Option> opts) {
    for (Arg.Option o : opts) {
      Match.Direction d =
          switch (o.flag()) {
            case "--dports", "--destination-ports" -> Match.Direction.DESTINATION;
            case "--sports", "--source-ports" -> Match.Direction.SOURCE;
            case "--ports" -> Match.Direction.EITHER;
            default -> null;
          };
      if (d != null) {
        // libxt_multiport parse_multi_ports_v1: a range is "lo:hi" with lo < hi and both
        // written, and takes two of the kernel's 15 port slots (XT_MULTI_PORTS).
        List<PortRange> ports = new ArrayList<>();
        int slots = 0;
        for (String part : o.text().split(",", -1)) {
          int colon = part.indexOf(':');
          if (colon < 0) {
            int p = port(part);
            ports.add(new PortRange(p, p));
            slots++;
          } else {
            int lo = port(part.substring(0, colon));
            int hi = port(part.substring(colon + 1));
            if (lo >= hi) {
              throw new IllegalArgumentException("invalid portrange specified: " + part);
            }
            ports.add(new PortRange(lo, hi));
            slots += 2;
          }
        }
        if (slots > 15) {
          throw new IllegalArgumentException("too many ports specified");
        }
        return new Match.MultiPort(d, o.negated(), ports);
      }
    }
    throw new IllegalArgumentException("no --dports, --sports or --ports");
  }

  private static Match conntrack(List<Arg.Option> opts) {
    List<Match.CtTest> tests = new ArrayList<>();
    for (Arg.Option o : opts) {
      boolean n = o.negated();
      tests.add(
          switch (o.flag()) {
            case "--ctstate" -> ctState(o);
            case "--ctstatus" -> {
              Set<String> s = names(o.text(), Match.CtStatus.NAMES, "conntrack status");
              yield new Match.CtStatus(n, new TreeSet<>(s));
            }
            case "--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst" -> {
              Cidr c = Cidr.parse(o.text());
              yield new Match.CtAddress(o.flag(), n, c.ipv6() ? c : c.masked());
            }
            case "--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport" ->
                new Match.CtPort(o.flag(), n, portRange(o.text()));
            case "--ctdir" -> {
              String d = o.text().toUpperCase(Locale.ROOT);
              if (!d.equals("ORIGINAL") && !d.equals("REPLY")) {
                throw new IllegalArgumentException("--ctdir is ORIGINAL or REPLY, not " + d);
              }
              if (n) {
                throw new IllegalArgumentException("option \"--ctdir\" cannot be inverted");
              }
              yield new Match.CtDir(n, d.equals("REPLY"));
            }
            case "--ctproto" -> new Match.CtProto(n, o.text().toLowerCase(Locale.ROOT));
            default -> new Match.CtOther(n, opts(List.of(o)).get(0));
          });
    }
    return new Match.Conntrack(tests);
  }

  private static Match.CtState ctState(Arg.Option o) {
    return new Match.CtState(
        o.negated(), new TreeSet<>(names(o.text(), Match.CtState.NAMES, "conntrack state")));
  }

  private static Set<String> names(String list, Set<String> known, String what) {
    Set<String> out = new TreeSet<>();
    for (String s : list.split(",", -1)) {
      String u = s.toUpperCase(Locale.ROOT);
      if (!known.contains(u)) {
        throw new IllegalArgumentException("unknown " + what + " " + s);
      }
      out.add(u);
    }
    return out;
  }

  /**
   * libxt_statistic: --mode is required, random needs --probability, nth needs --every, --packet
   * needs --every and is never inverted, --probability excludes --every and --packet.
   */
  private static Match statistic(List<Arg.Option> opts) {
    String mode = null;
    Long prob = null;
    Long every = null;
    Long packet = null;
    boolean neg = false;
    for (Arg.Option o : opts) {
      switch (o.flag()) {
        case "--mode" -> mode = o.text();
        case "--probability" -> {
          prob = probability(o.text());
          neg = o.negated();
        }
        case "--every" -> {
          every = count(o.text());
          if (every < 1) {
            throw new IllegalArgumentException("--every " + o.text() + " is not a positive count");
          }
          neg = o.negated();
        }
        case "--packet" -> {
          if (o.negated()) {
            throw new IllegalArgumentException("option \"--packet\" cannot be inverted");
          }
          packet = count(o.text());
        }
        default -> throw new IllegalArgumentException("unknown statistic option " + o.flag());
      }
    }
    if (mode == null) {
      throw new IllegalArgumentException("option \"--mode\" must be specified");
    }
    if (packet != null && every == null) {
      throw new IllegalArgumentException("option \"--packet\" also requires \"--every\"");
    }
    if (prob != null && (every != null || packet != null)) {
      throw new IllegalArgumentException(
          "option \"--probability\" cannot be used together with \"--every\"");
    }
    return switch (mode) {
      case "random" -> {
        if (prob == null) {
          throw new IllegalArgumentException(
              "--probability must be specified when using random mode");
        }
        yield new Match.Statistic(Match.StatisticMode.RANDOM, neg, prob, 0, 0);
      }
      case "nth" -> {
        if (every == null) {
          throw new IllegalArgumentException(
              "--every and --packet must be specified when using nth mode");
        }
        if (packet == null) {
          packet = 0L;
        }
        if (packet >= every) {
          throw new IllegalArgumentException("--packet " + packet + " is not below --every");
        }
        yield new Match.Statistic(Match.StatisticMode.NTH, neg, 0, every, packet);
      }
      default -> throw new IllegalArgumentException("unknown statistic mode " + mode);
    };
  }

  /** libxt_statistic keeps lround(p * 2^31), which iptables-save prints back with %.11f. */
  static long probability(String text) {
    double p;
    try {
      p = Double.parseDouble(text.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a probability: \"" + text + "\"", e);
    }
    if (!(p >= 0 && p <= 1)) {
      throw new IllegalArgumentException("probability " + text + " is not between 0 and 1");
    }
    return Math.round(p * 2147483648.0);
  }

  private static long count(String s) {
    if (!digits(s.strip(), 10) || Long.parseLong(s.strip()) > U32) {
      throw new IllegalArgumentException("not a count: \"" + s + "\"");
    }
    return Long.parseLong(s.strip());
  }

  private static Match addrtype(List<Arg.Option> opts) {
    Match.TypeTest src = null;
    Match.TypeTest dst = null;
    boolean in = false;
    boolean out = false;
    for (Arg.Option o : opts) {
      switch (o.flag()) {
        case "--src-type" ->
            src = new Match.TypeTest(o.negated(), names(o.text(), AddrTypes.ALL, "address type"));
        case "--dst-type" ->
            dst = new Match.TypeTest(o.negated(), names(o.text(), AddrTypes.ALL, "address type"));
        case "--limit-iface-in" -> in = true;
        case "--limit-iface-out" -> out = true;
        default -> throw new IllegalArgumentException("unknown addrtype option " + o.flag());
      }
    }
    if (in && out) {
      throw new IllegalArgumentException("--limit-iface-in and --limit-iface-out together");
    }
    return new Match.AddrType(src, dst, in, out);
  }

  private static Match set(List<Arg.Option> opts) {
    Arg.Option ms = null;
    List<Match.Opt> other = new ArrayList<>();
    for (Arg.Option o : opts) {
      if ((o.flag().equals("--match-set") || o.flag().equals("--set")) && ms == null) {
        ms = o;
      } else {
        other.add(opts(List.of(o)).get(0));
      }
    }
    if (ms == null) {
      throw new IllegalArgumentException("no --match-set");
    }
    List<Value> v = ms.values();
    if (v.size() != 2) {
      throw new IllegalArgumentException("--match-set takes a set name and its directions");
    }
    List<Match.Side> dims = new ArrayList<>();
    for (String d : v.get(1).text().split(",", -1)) {
      dims.add(
          switch (d) {
            case "src" -> Match.Side.SRC;
            case "dst" -> Match.Side.DST;
            default ->
                throw new IllegalArgumentException("a set direction is src or dst, not " + d);
          });
    }
    if (dims.size() > 6) {
      throw new IllegalArgumentException("more than 6 set directions");
    }
    return new Match.SetMatch(ms.negated(), v.get(0).text(), dims, other);
  }

  private static Match recent(List<Arg.Option> opts) {
    String name = "DEFAULT";
    Match.RecentCommand cmd = null;
    boolean neg = false;
    long seconds = 0;
    boolean reap = false;
    long hitcount = 0;
    boolean rttl = false;
    String mask = "255.255.255.255";
    boolean rdest = false;
    for (Arg.Option o : opts) {
      Match.RecentCommand c = null;
      switch (o.flag()) {
        case "--name" -> name = o.text();
        case "--set" -> c = Match.RecentCommand.SET;
        case "--rcheck" -> c = Match.RecentCommand.RCHECK;
        case "--update" -> c = Match.RecentCommand.UPDATE;
        case "--remove" -> c = Match.RecentCommand.REMOVE;
        case "--seconds" -> seconds = count(o.text());
        case "--reap" -> reap = true;
        case "--hitcount" -> hitcount = count(o.text());
        case "--rttl" -> rttl = true;
        case "--mask" -> {
          if (!Ip.isIpv4(o.text()) && !Ip.isIpv6(o.text())) {
            throw new IllegalArgumentException("--mask " + o.text() + " is not an address");
          }
          mask = o.text();
        }
        case "--rsource" -> rdest = false;
        case "--rdest" -> rdest = true;
        default -> throw new IllegalArgumentException("unknown recent option " + o.flag());
      }
      if (c != null) {
        if (cmd != null) {
          throw new IllegalArgumentException(
              "more than one of --set, --rcheck, --update, --remove");
        }
        cmd = c;
        neg = o.negated();
      }
    }
    if (cmd == null) {
      throw new IllegalArgumentException("one of --set, --rcheck, --update, --remove is needed");
    }
    if (reap && seconds == 0) {
      throw new IllegalArgumentException("--reap needs --seconds");
    }
    if ((cmd == Match.RecentCommand.SET || cmd == Match.RecentCommand.REMOVE)
        && (seconds != 0 || hitcount != 0 || rttl || reap)) {
      // xt_recent recent_mt_check: --set and --remove take no --seconds, --hitcount, --rttl or
      // --reap (EINVAL).
      throw new IllegalArgumentException(
          "--set and --remove take no --seconds, --hitcount, --rttl or --reap");
    }
    return new Match.Recent(name, cmd, neg, seconds, reap, hitcount, rttl, mask, rdest);
  }

  private static Match physdev(List<Arg.Option> opts) {
    List<Match.PhysdevTest> tests = new ArrayList<>();
    for (Arg.Option o : opts) {
      switch (o.flag()) {
        case "--physdev-in", "--physdev-out" ->
            tests.add(new Match.PhysdevTest(o.negated(), o.flag(), o.text()));
        case "--physdev-is-in", "--physdev-is-out", "--physdev-is-bridged" ->
            tests.add(new Match.PhysdevTest(o.negated(), o.flag(), null));
        default -> throw new IllegalArgumentException("unknown physdev option " + o.flag());
      }
    }
    return new Match.Physdev(tests);
  }

  private static Match limit(List<Arg.Option> opts) {
    String rate = "3/hour";
    long burst = 5;
    for (Arg.Option o : opts) {
      switch (o.flag()) {
        case "--limit" -> rate = rate(o.text());
        case "--limit-burst" -> burst = count(o.text());
        default -> throw new IllegalArgumentException("unknown limit option " + o.flag());
      }
    }
    return new Match.Limit(rate, burst);
  }

  /**
   * libxt_limit parse_rate: a positive count, optionally "/" and a prefix of second, minute, hour
   * or day; the kernel's cost 10000 * seconds / count must not be 0 ("Rate too fast").
   */
  private static String rate(String text) {
    String t = text.strip();
    int slash = t.indexOf('/');
    String n = slash < 0 ? t : t.substring(0, slash);
    long mult = 1;
    if (slash >= 0) {
      String unit = t.substring(slash + 1).toLowerCase(Locale.ROOT);
      mult =
          unit.isEmpty()
              ? -1
              : "second".startsWith(unit)
                  ? 1
                  : "minute".startsWith(unit)
                      ? 60
                      : "hour".startsWith(unit) ? 3600 : "day".startsWith(unit) ? 86400 : -1;
    }
    if (mult < 0 || !digits(n, 10) || Long.parseLong(n) == 0) {
      throw new IllegalArgumentException("bad rate \"" + text + "\"");
    }
    if (10000 * mult / Long.parseLong(n) == 0) {
      throw new IllegalArgumentException("Rate too fast \"" + text + "\"");
    }
    return t;
  }

  private static Match iprange(List<Arg.Option> opts) {
    for (Arg.Option o : opts) {
      boolean src = o.flag().equals("--src-range");
      if (src || o.flag().equals("--dst-range")) {
        String[] f = o.text().split("-", -1);
        long from = ipv4(f[0]);
        long to = ipv4(f.length > 1 ? f[1] : f[0]);
        return new Match.IpRange(src, o.negated(), from, to);
      }
    }
    throw new IllegalArgumentException("no --src-range or --dst-range");
  }

  private static long ipv4(String s) {
    long v = Ip.ipv4ToLong(s.strip());
    if (v < 0 || !Ip.isIpv4(s.strip())) {
      throw new IllegalArgumentException("not an IPv4 address: \"" + s + "\"");
    }
    return v;
  }

  private static Match policy(List<Arg.Option> opts) {
    String dir = "";
    String pol = null;
    boolean neg = false;
    List<Match.Opt> other = new ArrayList<>();
    for (Arg.Option o : opts) {
      switch (o.flag()) {
        case "--dir" -> dir = o.text();
        case "--pol" -> {
          pol = o.text();
          neg = o.negated();
        }
        default -> other.add(opts(List.of(o)).get(0));
      }
    }
    if (!dir.equals("in") && !dir.equals("out")) {
      throw new IllegalArgumentException("neither --dir in nor --dir out specified");
    }
    if (pol == null) {
      throw new IllegalArgumentException("no --pol");
    }
    if (!pol.equals("none") && !pol.equals("ipsec")) {
      throw new IllegalArgumentException("invalid policy \"" + pol + "\"");
    }
    return new Match.Policy(dir, neg, pol, other);
  }

  private static Match rpfilter(List<Arg.Option> opts) {
    boolean loose = false;
    boolean validMark = false;
    boolean acceptLocal = false;
    boolean invert = false;
    for (Arg.Option o : opts) {
      switch (o.flag()) {
        case "--loose" -> loose = true;
        case "--validmark" -> validMark = true;
        case "--accept-local" -> acceptLocal = true;
        case "--invert" -> invert = true;
        default -> throw new IllegalArgumentException("unknown rpfilter option " + o.flag());
      }
    }
    return new Match.RpFilter(loose, validMark, acceptLocal, invert);
  }

  // ---- values

  /** A port number, 0 to 65535, in decimal. */
  public static int port(String s) {
    String t = s.strip();
    if (!digits(t, 5) || Integer.parseInt(t) > 65535) {
      throw new IllegalArgumentException("not a port number: \"" + s + "\"");
    }
    return Integer.parseInt(t);
  }

  /**
   * 1 to {@code max} ASCII digits (a regex here would be compiled for every port of every rule).
   */
  private static boolean digits(String t, int max) {
    if (t.isEmpty() || t.length() > max) {
      return false;
    }
    for (int i = 0; i < t.length(); i++) {
      char c = t.charAt(i);
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return true;
  }

  /** "80", "80:90", ":90" (from 0), "80:" (to 65535), as libxt_tcp and multiport read them. */
  static PortRange portRange(String s) {
    int colon = s.indexOf(':');
    if (colon < 0) {
      int p = port(s);
      return new PortRange(p, p);
    }
    int lo = colon == 0 ? 0 : port(s.substring(0, colon));
    int hi = colon == s.length() - 1 ? 65535 : port(s.substring(colon + 1));
    if (lo > hi) {
      throw new IllegalArgumentException("port range " + s + " runs backwards");
    }
    return new PortRange(lo, hi);
  }

  /**
   * A 32-bit value as iptables reads it (strtoul base 0: 0x-hex, 0-octal, decimal), so "010" is 8.
   */
  public static long u32(String s) {
    String t = s.strip().toLowerCase(Locale.ROOT);
    long v;
    try {
      if (t.startsWith("0x")) {
        v = Long.parseLong(t.substring(2), 16);
      } else if (t.length() > 1 && t.startsWith("0")) {
        v = Long.parseLong(t.substring(1), 8);
      } else {
        v = Long.parseLong(t);
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a number: \"" + s + "\"", e);
    }
    if (v < 0 || v > U32 || t.startsWith("+") || t.startsWith("0x+") || t.startsWith("0x-")) {
      throw new IllegalArgumentException("not a 32-bit value: \"" + s + "\"");
    }
    return v;
  }

  /** "value[/mask]", the mask all ones when absent. */
  static MarkMask markMask(String s) {
    String[] f = s.split("/", -1);
    if (f.length > 2) {
      throw new IllegalArgumentException("not value[/mask]: \"" + s + "\"");
    }
    return new MarkMask(u32(f[0]), f.length > 1 ? u32(f[1]) : U32);
  }

  // ---- targets

  private static Target target(Arg.Jump j, List<Arg.Option> opts) {
    String name = j.target();
    if (j.isGoto()) {
      return new Target.Jump(name, true);
    }
    return switch (name) {
      case "ACCEPT" -> new Target.Accept();
      case "DROP" -> new Target.Drop();
      case "RETURN" -> new Target.Return();
      case "REJECT" -> {
        String with = "icmp-port-unreachable";
        for (Arg.Option o : opts) {
          if (!o.flag().equals("--reject-with")) {
            throw new IllegalArgumentException("unknown REJECT option " + o.flag());
          }
          with = rejectWith(o.text());
        }
        yield new Target.Reject(with);
      }
      case "DNAT" -> {
        Target.NatRange to = null;
        boolean random = false;
        boolean persistent = false;
        for (Arg.Option o : opts) {
          switch (o.flag()) {
            case "--to-destination" -> {
              if (to != null) {
                throw new IllegalArgumentException(
                    "option \"--to-destination\" can only be used once");
              }
              to = natRange(o.text());
            }
            case "--random" -> random = true;
            case "--persistent" -> persistent = true;
            default -> throw new IllegalArgumentException("unknown DNAT option " + o.flag());
          }
        }
        if (to == null) {
          throw new IllegalArgumentException("no --to-destination");
        }
        yield new Target.Dnat(to, random, persistent);
      }
      case "SNAT" -> {
        Target.NatRange to = null;
        boolean random = false;
        boolean fully = false;
        boolean persistent = false;
        for (Arg.Option o : opts) {
          switch (o.flag()) {
            case "--to-source" -> {
              if (to != null) {
                throw new IllegalArgumentException("option \"--to-source\" can only be used once");
              }
              to = natRange(o.text());
            }
            case "--random" -> random = true;
            case "--random-fully" -> fully = true;
            case "--persistent" -> persistent = true;
            default -> throw new IllegalArgumentException("unknown SNAT option " + o.flag());
          }
        }
        if (to == null) {
          throw new IllegalArgumentException("no --to-source");
        }
        yield new Target.Snat(to, random, fully, persistent);
      }
      case "MASQUERADE" -> {
        PortRange ports = null;
        boolean random = false;
        boolean fully = false;
        for (Arg.Option o : opts) {
          switch (o.flag()) {
            case "--to-ports" -> ports = natPorts(o.text());
            case "--random" -> random = true;
            case "--random-fully" -> fully = true;
            default -> throw new IllegalArgumentException("unknown MASQUERADE option " + o.flag());
          }
        }
        yield new Target.Masquerade(ports, random, fully);
      }
      case "REDIRECT" -> {
        PortRange ports = null;
        boolean random = false;
        for (Arg.Option o : opts) {
          switch (o.flag()) {
            case "--to-ports" -> ports = natPorts(o.text());
            case "--random" -> random = true;
            default -> throw new IllegalArgumentException("unknown REDIRECT option " + o.flag());
          }
        }
        yield new Target.Redirect(ports, random);
      }
      case "MARK" -> {
        long[] vm = xmark(single(opts, "MARK"));
        yield new Target.Mark(vm[0], vm[1]);
      }
      case "CONNMARK" -> connmark(opts);
      case "LOG" -> {
        String prefix = null;
        String level = null;
        List<Match.Opt> other = new ArrayList<>();
        for (Arg.Option o : opts) {
          switch (o.flag()) {
            case "--log-prefix" -> prefix = o.text();
            case "--log-level" -> level = o.text();
            default -> other.add(opts(List.of(o)).get(0));
          }
        }
        yield new Target.Log(prefix, level, other);
      }
      case "NOTRACK" -> new Target.NoTrack();
      case "CT" -> {
        boolean notrack = opts.stream().anyMatch(o -> o.flag().equals("--notrack"));
        yield notrack ? new Target.NoTrack() : new Target.Ct(opts(opts));
      }
      default -> {
        if (!opts.isEmpty() || EXTENSIONS.contains(name)) {
          yield new Target.Unknown(name, opts(opts));
        }
        yield new Target.Jump(name, false);
      }
    };
  }

  /** libipt_REJECT's reject_table as (name, alias), in its order. */
  private static final List<List<String>> REJECT_TYPES =
      List.of(
          List.of("icmp-net-unreachable", "net-unreach"),
          List.of("icmp-host-unreachable", "host-unreach"),
          List.of("icmp-proto-unreachable", "proto-unreach"),
          List.of("icmp-port-unreachable", "port-unreach"),
          List.of("icmp-net-prohibited", "net-prohib"),
          List.of("icmp-host-prohibited", "host-prohib"),
          List.of("tcp-reset", "tcp-rst"),
          List.of("icmp-admin-prohibited", "admin-prohib"));

  /**
   * A --reject-with value as its name in reject_table: libipt_REJECT takes the first row whose name
   * or alias starts with the value (strncasecmp), so "host-prohib" is icmp-host-prohibited.
   */
  private static String rejectWith(String text) {
    String t = text.toLowerCase(Locale.ROOT);
    if (!t.isEmpty()) {
      for (List<String> row : REJECT_TYPES) {
        if (row.get(0).startsWith(t) || row.get(1).startsWith(t)) {
          return row.get(0);
        }
      }
    }
    throw new IllegalArgumentException("unknown reject type \"" + text + "\"");
  }

  private static Arg.Option single(List<Arg.Option> opts, String target) {
    if (opts.size() != 1) {
      throw new IllegalArgumentException(target + " takes exactly one operation");
    }
    return opts.get(0);
  }

  /** A MARK-style operation as the (value, mask) pair of mark = (mark &amp; ~mask) ^ value. */
  private static long[] xmark(Arg.Option o) {
    String t = o.text();
    return switch (o.flag()) {
      case "--set-xmark" -> {
        MarkMask m = markMask(t);
        yield new long[] {m.value(), m.mask()};
      }
      case "--set-mark" -> {
        // libxt_MARK: the bits of the value are cleared before they are set, whatever the mask.
        MarkMask m = markMask(t);
        yield new long[] {m.value(), m.value() | m.mask()};
      }
      case "--or-mark" -> {
        long v = u32(t);
        yield new long[] {v, v};
      }
      case "--and-mark" -> new long[] {0, ~u32(t) & U32};
      case "--xor-mark" -> new long[] {u32(t), 0};
      default -> throw new IllegalArgumentException("unknown mark operation " + o.flag());
    };
  }

  private static Target connmark(List<Arg.Option> opts) {
    String mode = null;
    long[] set = null;
    long nfmask = U32;
    long ctmask = U32;
    for (Arg.Option o : opts) {
      switch (o.flag()) {
        case "--save-mark", "--restore-mark" -> {
          if (mode != null) {
            throw new IllegalArgumentException(
                "option \"" + o.flag() + "\" cannot be used together with \"" + mode + "\"");
          }
          mode = o.flag();
        }
        case "--mask" -> {
          nfmask = u32(o.text());
          ctmask = nfmask;
        }
        case "--nfmask" -> nfmask = u32(o.text());
        case "--ctmask" -> ctmask = u32(o.text());
        default -> {
          set = xmark(o);
          if (mode != null) {
            throw new IllegalArgumentException(
                "option \"" + o.flag() + "\" cannot be used together with \"" + mode + "\"");
          }
          mode = o.flag();
        }
      }
    }
    if (mode == null) {
      throw new IllegalArgumentException("no CONNMARK operation");
    }
    return switch (mode) {
      case "--save-mark" -> new Target.ConnMarkSave(nfmask, ctmask);
      case "--restore-mark" -> new Target.ConnMarkRestore(nfmask, ctmask);
      default -> new Target.ConnMarkSet(set[0], set[1]);
    };
  }

  /** "ip[-ip][:port[-port]]", "[v6]:port", ":port". */
  static Target.NatRange natRange(String s) {
    String ips = s;
    String ports = null;
    if (s.startsWith("[")) {
      int close = s.indexOf(']');
      if (close < 0) {
        throw new IllegalArgumentException("no ] in " + s);
      }
      ips = s.substring(1, close);
      String rest = s.substring(close + 1);
      if (!rest.isEmpty()) {
        if (!rest.startsWith(":")) {
          throw new IllegalArgumentException("not [address]:port: " + s);
        }
        ports = rest.substring(1);
      }
    } else if (s.indexOf(':') == s.lastIndexOf(':') && s.indexOf(':') >= 0) {
      ips = s.substring(0, s.indexOf(':'));
      ports = s.substring(s.indexOf(':') + 1);
    }
    String from = null;
    String to = null;
    if (!ips.isEmpty()) {
      int dash = ips.indexOf('-');
      from = dash < 0 ? ips : ips.substring(0, dash);
      to = dash < 0 ? ips : ips.substring(dash + 1);
      for (String ip : List.of(from, to)) {
        if (!Ip.isIpv4(ip) && !Ip.isIpv6(ip)) {
          throw new IllegalArgumentException("not an IPv4 address: " + ip);
        }
      }
    } else if (ports == null) {
      throw new IllegalArgumentException("no address and no port");
    }
    return new Target.NatRange(from, to, ports == null ? null : natPorts(ports));
  }

  /** "P" or "P-Q" (NAT targets write ranges with a dash). */
  static PortRange natPorts(String s) {
    int dash = s.indexOf('-');
    int lo = port(dash < 0 ? s : s.substring(0, dash));
    int hi = dash < 0 ? lo : port(s.substring(dash + 1));
    if (lo > hi) {
      throw new IllegalArgumentException("port range " + s + " runs backwards");
    }
    return new PortRange(lo, hi);
  }
}
