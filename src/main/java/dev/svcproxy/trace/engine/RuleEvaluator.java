package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.TypedRule;
import dev.svcproxy.netfilter.match.Match;
import dev.svcproxy.netfilter.target.Target;
import dev.svcproxy.trace.NodeState;
import java.util.IdentityHashMap;
import java.util.List;
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
  private final Map<Rule, TypedRule> typed = new IdentityHashMap<>();

  RuleEvaluator(NodeState node, Routing routing) {
    this.node = node;
    this.routing = routing;
  }

  /** The rule's typed form, parsed once per rule for this evaluator. */
  TypedRule typed(Rule rule) {
    return typed.computeIfAbsent(rule, TypedRule::lenient);
  }

  /**
   * The rule's typed target, for applying it (mark arithmetic: {@link Target.Mark#apply}, {@link
   * Target.ConnMark#apply}; NAT ranges); a target with a bad value is an exception whose message
   * says what is wrong, as the caller reports a rule it could not apply.
   */
  Target target(Rule rule) {
    Target t = typed(rule).target();
    if (t instanceof Target.Invalid i) {
      throw new IllegalArgumentException(i.reason());
    }
    return t;
  }

  Verdict evaluate(Rule rule, Branch b) {
    double p = 1.0;
    for (Match m : typed(rule).matches()) {
      Verdict v;
      try {
        v = match(m, b);
      } catch (RuntimeException e) {
        return Verdict.unknown(m.toString(), reason(e));
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

  private static String describe(Match.Unknown u) {
    StringBuilder s = new StringBuilder("-m ").append(u.module());
    for (Match.Opt o : u.options()) {
      s.append(o.negated() ? " ! " : " ").append(o.flag());
      for (String v : o.values()) {
        s.append(' ').append(v);
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
    return TypedRule.port(s);
  }

  /** A 32-bit mark value as iptables reads it (0x-hex, 0-octal or decimal). */
  static long num(String s) {
    return TypedRule.u32(s);
  }

  static boolean iface(String pattern, String name) {
    return Match.Interface.nameMatches(pattern, name);
  }

  private Verdict match(Match m, Branch b) {
    return switch (m) {
      case Match.Invalid i -> Verdict.unknown(i.written(), i.reason());
      case Match.Protocol p -> bool(p.matches(b.proto));
      case Match.Address a -> bool(a.matches(a.source() ? b.src : b.dst));
      case Match.AddressMask a -> bool(a.matches(a.source() ? b.src : b.dst));
      case Match.Interface i ->
          bool(i.matches(i.in() ? (b.inIface.isEmpty() ? "lo" : b.inIface) : b.outIface));
      // A traced packet is never a fragment.
      case Match.Fragment f -> bool(f.negated());
      case Match.Ports p -> bool(p.protocol().equals(b.proto) && ports(p, b));
      case Match.Icmp i -> icmp(i, b);
      case Match.MultiPort mp -> bool(mp.matches(b.sport, b.dport));
      case Match.Mark mk -> bool(mk.matches(b.mark));
      case Match.ConnMark cm -> bool(cm.matches(b.ctMark));
      case Match.Conntrack c -> conntrack(c, b);
      case Match.State st -> bool(st.state().negated() != ctState(st.state(), b));
      case Match.Statistic st -> {
        double p = st.chance();
        yield new Verdict(st.negated() ? 1 - p : p, null, null);
      }
      case Match.AddrType a -> bool(addrtype(a, b));
      case Match.SetMatch sm -> set(sm, b);
      case Match.Recent r -> recent(r, b);
      case Match.Comment c -> Verdict.YES;
      case Match.Nfacct n -> Verdict.YES;
      case Match.Limit l -> Verdict.YES;
      case Match.IpRange r -> {
        long v = Ip.ipv4ToLong(r.source() ? b.src : b.dst);
        yield bool(r.negated() != (v >= r.from() && v <= r.to()));
      }
      case Match.Physdev pd -> physdev(pd, b);
      // IPsec policy: a bundle carries no xfrm state, so traffic is taken to have no policy.
      case Match.Policy po -> bool(po.negated() != po.pol().equals("none"));
      case Match.RpFilter rp -> bool(rpfilter(rp, b));
      case Match.Unknown u when u.module().equals("ipvs") -> ipvs(u, b);
      case Match.Unknown u ->
          switch (u.module()) {
            case "hashlimit", "connlimit" -> Verdict.YES;
            default -> Verdict.unknown(describe(u), "the tracer does not know this match");
          };
    };
  }

  private static Verdict bool(boolean m) {
    return m ? Verdict.YES : Verdict.NO;
  }

  private static boolean ports(Match.Ports p, Branch b) {
    if (p.sport() != null && !p.sport().matches(b.sport)) {
      return false;
    }
    if (p.dport() != null && !p.dport().matches(b.dport)) {
      return false;
    }
    // A traced TCP packet is the connection's first (SYN) when new, else an ACK.
    return p.flags() == null
        || p.flags().matches(b.ctState.equals("NEW") ? Set.of("SYN") : Set.of("ACK"));
  }

  /** A traced ICMP packet is an echo request (type 8, code 0). */
  private static Verdict icmp(Match.Icmp i, Branch b) {
    return bool(b.proto.equals("icmp") && i.matches(8, 0));
  }

  private static boolean ctState(Match.CtState s, Branch b) {
    boolean m = false;
    for (String st : s.states()) {
      m |=
          switch (st) {
            case "DNAT" -> b.dnatDone;
            case "SNAT" -> b.snatDone;
            default -> st.equals(b.ctState);
          };
    }
    return m;
  }

  /**
   * The conntrack match's tests, all of which must hold (xt_conntrack conntrack_mt). The original
   * tuple is the packet as it arrived in the original direction; the reply tuple is what the
   * Conntrack job builds a reply from: the original tuple reversed with the NAT done so far (the
   * DNATed destination as source, the SNATed source as destination). A reply packet arrives with
   * the reply tuple, and its original tuple (the client before SNAT) is not on the branch.
   */
  private static Verdict conntrack(Match.Conntrack c, Branch b) {
    for (Match.CtTest t : c.tests()) {
      Boolean m =
          switch (t) {
            case Match.CtState s -> ctState(s, b);
            case Match.CtStatus s -> {
              boolean any = false;
              for (String st : s.statuses()) {
                any |=
                    switch (st) {
                      case "NONE" -> !b.ctState.equals("ESTABLISHED");
                      case "EXPECTED" -> false;
                      default -> b.ctState.equals("ESTABLISHED");
                    };
              }
              yield any;
            }
            case Match.CtAddress a -> {
              String ip = tupleAddress(a.flag(), b);
              yield ip == null ? null : a.network().contains(ip);
            }
            case Match.CtPort p -> {
              Integer port = tuplePort(p.flag(), b);
              yield port == null ? null : p.range().contains(port);
            }
            case Match.CtDir d -> d.reply() == b.replyDirection;
            case Match.CtProto p -> new Match.Protocol(false, p.protocol()).matches(b.proto);
            case Match.CtOther o -> null;
          };
      if (m == null) {
        return Verdict.unknown(
            "-m conntrack " + ctTest(t),
            t instanceof Match.CtOther
                ? "the tracer does not model this conntrack test"
                : "the original tuple of a reply is not known to the tracer");
      }
      if (t.negated() == m) {
        return Verdict.NO;
      }
    }
    return Verdict.YES;
  }

  private static String ctTest(Match.CtTest t) {
    String neg = t.negated() ? "! " : "";
    return switch (t) {
      case Match.CtAddress a -> neg + a.flag() + " " + a.network();
      case Match.CtPort p -> neg + p.flag() + " " + p.range();
      case Match.CtOther o -> neg + o.option().flag() + " " + String.join(" ", o.option().values());
      default -> t.toString();
    };
  }

  /** The address a --ct{orig,repl}{src,dst} test looks at; null when not known. */
  private static String tupleAddress(String flag, Branch b) {
    boolean orig = flag.startsWith("--ctorig");
    boolean src = flag.endsWith("src");
    if (b.replyDirection) {
      return orig ? null : src ? b.origSrc : b.origDst;
    }
    if (orig) {
      return src ? b.origSrc : b.origDst;
    }
    return src ? b.dst : b.ctSource != null ? b.ctSource[0] : b.src;
  }

  /** The port a --ct{orig,repl}{src,dst}port test looks at; null when not known. */
  private static Integer tuplePort(String flag, Branch b) {
    boolean orig = flag.startsWith("--ctorig");
    boolean src = flag.endsWith("srcport");
    if (b.replyDirection) {
      return orig ? null : src ? b.origSport : b.origDport;
    }
    if (orig) {
      return src ? b.origSport : b.origDport;
    }
    return src ? b.dport : b.ctSource != null ? Integer.parseInt(b.ctSource[1]) : b.sport;
  }

  private boolean addrtype(Match.AddrType a, Branch b) {
    return typeMatches(a.src(), a, b.src, b) && typeMatches(a.dst(), a, b.dst, b);
  }

  private boolean typeMatches(Match.TypeTest t, Match.AddrType a, String ip, Branch b) {
    if (t == null) {
      return true;
    }
    String type = routing.addrType(ip);
    if ((a.limitIfaceIn() || a.limitIfaceOut()) && type.equals("LOCAL")) {
      // Limited to the interface: local only if the address is on that interface.
      String dev = a.limitIfaceIn() ? b.inIface : b.outIface;
      boolean onDev =
          node.iface(dev)
              .map(i -> i.addresses().stream().anyMatch(x -> x.ip().equals(ip)))
              .orElse(false);
      type = onDev ? "LOCAL" : "UNICAST";
    }
    return t.matches(type);
  }

  private Verdict recent(Match.Recent r, Branch b) {
    if (r.command() == Match.RecentCommand.SET || r.command() == Match.RecentCommand.REMOVE) {
      return bool(!r.negated()); // --set and --remove always match.
    }
    List<String> list = node.recent().get(r.name());
    boolean m = list != null && list.contains(r.rdest() ? b.dst : b.src);
    return bool(r.negated() != m);
  }

  private Verdict set(Match.SetMatch sm, Branch b) {
    String[] dirs =
        sm.dims().stream().map(d -> d == Match.Side.SRC ? "src" : "dst").toArray(String[]::new);
    NodeState.IpSet s = node.ipsets().get(sm.name());
    if (s == null) {
      return Verdict.unknown(
          "-m set --match-set " + sm.name() + " " + String.join(",", dirs),
          "set " + sm.name() + " is not in the bundle");
    }
    boolean returnNomatch = sm.other().stream().anyMatch(o -> o.flag().equals("--return-nomatch"));
    boolean m = IpSets.contains(s, dirs, b, node.ipsets(), returnNomatch);
    return bool(sm.negated() != m);
  }

  /**
   * xt_ipvs (ipvs_mt): --ipvs alone tests skb->ipvs_property, which IPVS sets on the packets it
   * sent on or de-NATed; every other test needs that property and the packet's IPVS connection as
   * ip_vs_conn_out_get finds it from the inverted header, and fails without them.
   */
  private static Verdict ipvs(Match.Unknown u, Branch b) {
    IpvsHook.Binding c = b.ipvsBinding;
    boolean property =
        c != null && (!b.replyDirection || b.src.equals(c.vaddr()) && b.sport == c.vport());
    boolean onlyProperty = u.options().stream().allMatch(o -> o.flag().equals("--ipvs"));
    if (onlyProperty) {
      boolean inverted = u.options().stream().anyMatch(Match.Opt::negated);
      return bool(property != inverted);
    }
    // ipvs_mt looks the connection up with the packet's header inverted (ip_vs_fill_iph_skb(...,
    // true, ...), then conn_out_get): it finds it only when the destination is the real server
    // (cp->daddr:dport), i.e. for original-direction packets after IPVS's rewrite. A reply finds
    // none, so every test but --ipvs fails on it (and --vdir REPLY never matches).
    if (!property || b.replyDirection || !b.dst.equals(c.daddr()) || b.dport != c.dport()) {
      return Verdict.NO;
    }
    for (Match.Opt o : u.options()) {
      String v = o.values().isEmpty() ? "" : o.values().get(0);
      boolean m =
          switch (o.flag()) {
            case "--ipvs" -> true;
            case "--vproto" -> v.equals(b.proto) || v.equals(protoNumber(b.proto));
            case "--vaddr" ->
                dev.svcproxy.model.Cidr.parse(v.contains("/") ? v : v + "/32").contains(c.vaddr());
            case "--vport" -> port(v) == c.vport();
            case "--vdir" -> v.equalsIgnoreCase(b.replyDirection ? "REPLY" : "ORIGINAL");
            case "--vmethod" -> v.equalsIgnoreCase(c.method());
            default -> {
              throw new IllegalArgumentException(
                  "-m ipvs " + o.flag() + ": the tracer does not model it");
            }
          };
      if (m == o.negated()) {
        return Verdict.NO;
      }
    }
    return Verdict.YES;
  }

  private static String protoNumber(String proto) {
    return switch (proto) {
      case "tcp" -> "6";
      case "udp" -> "17";
      case "sctp" -> "132";
      default -> "";
    };
  }

  private Verdict physdev(Match.Physdev pd, Branch b) {
    for (Match.PhysdevTest t : pd.tests()) {
      if (t.name() != null) {
        // Which bridge port a frame used is not in a bundle (it needs the FDB and the peer's
        // MAC).
        return Verdict.unknown(
            "-m physdev " + t.flag() + " " + t.name(),
            "which bridge port a frame used is not in a bundle");
      }
      if (t.negated() == b.physdevBridged) {
        return Verdict.NO;
      }
    }
    return Verdict.YES;
  }

  /** rpfilter: does the route back to the source leave by the interface the packet came in on. */
  private boolean rpfilter(Match.RpFilter rp, Branch b) {
    boolean ok;
    if (b.inIface.isEmpty() || b.inIface.equals("lo")) {
      ok = true;
    } else if (routing.isLocalAddress(b.src)) {
      ok = rp.acceptLocal();
    } else {
      Routing.Decision back = routing.lookup(b.src, null, "", b.mark);
      ok = back.usable() && (rp.loose() || back.dev().equals(b.inIface));
    }
    return rp.invert() != ok;
  }
}
