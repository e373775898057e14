package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.nftables.ruleset.Expr;
import dev.svcproxy.nftables.ruleset.NftPrinter;
import dev.svcproxy.nftables.ruleset.Ruleset;
import dev.svcproxy.nftables.ruleset.Stmt;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.engine.ChainWalker.Kind;
import dev.svcproxy.trace.engine.ChainWalker.Res;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Walks the chains of one nftables table for one packet path: rule by rule, statement by statement;
 * jump/goto/return, verdicts and verdict maps, set lookups, numgen branches with their
 * probabilities, marks, NAT. A statement or expression it does not model makes its rule "not
 * evaluated" (a step naming the rule's handle): the rule is taken not to match.
 */
final class NftWalker {
  private static final int MAX_DEPTH = 64;

  /** How many numgen values one lookup enumerates before it is not evaluated. */
  private static final long MAX_NUMGEN = 4096;

  private final Ruleset.Table table;
  private final String hook;
  private final TraceRun run;

  NftWalker(Ruleset.Table table, String hook, TraceRun run) {
    this.table = table;
    this.hook = hook;
    this.run = run;
  }

  /** How steps name the table: "nft ip kube-proxy". */
  String label() {
    return "nft " + table.label();
  }

  /** An expression or statement the walker does not model; its rule is not evaluated. */
  private static final class NotEvaluated extends RuntimeException {
    private static final long serialVersionUID = 1L;

    NotEvaluated(String what) {
      super(what, null, false, false);
    }
  }

  /**
   * Walks {@code chain}; results: ACCEPT, DROP, REJECT, or RETURN (the chain ended without a
   * verdict). {@code hint} is the reason a drop or reject further down means (a kube-proxy
   * no-endpoint map's element led there), or null.
   */
  List<Res> walk(Branch start, Ruleset.Chain chain, int depth, ReasonCode hint) {
    List<Res> out = new ArrayList<>();
    if (depth > MAX_DEPTH) {
      run.warnings.add(
          "nft chain nesting deeper than " + MAX_DEPTH + " at " + chain.name() + ": stopped");
      out.add(new Res(start, Kind.RETURN));
      return out;
    }
    List<Branch> cur = List.of(start);
    for (Ruleset.Rule rule : chain.rules()) {
      List<Branch> next = new ArrayList<>();
      for (Branch b : cur) {
        for (Res r : rule(b, rule, chain, 0, depth, hint)) {
          if (r.kind() == null) {
            next.add(r.branch());
          } else {
            out.add(r);
          }
        }
      }
      cur = ChainWalker.mergeStates(next);
      if (cur.isEmpty()) {
        break;
      }
    }
    for (Branch b : cur) {
      if (depth > 0) {
        b.step(
            new Step(
                StepKind.CHAIN_RETURN,
                hook,
                label(),
                chain.name(),
                0,
                "end of " + chain.name(),
                "no rule decided: return"));
      }
      out.add(new Res(b, Kind.RETURN));
    }
    return out;
  }

  private Step step(
      StepKind kind, Ruleset.Chain chain, Ruleset.Rule rule, String effect, ReasonCode reason) {
    return new Step(
        kind,
        hook,
        label(),
        chain.name(),
        (int) rule.handle(),
        "handle " + rule.handle() + ": " + NftPrinter.rule(rule),
        effect,
        reason);
  }

  /** Statements {@code i..} of {@code rule}; a result of kind null goes on with the next rule. */
  private List<Res> rule(
      Branch b, Ruleset.Rule rule, Ruleset.Chain chain, int i, int depth, ReasonCode hint) {
    try {
      return stmts(b, rule, chain, i, depth, hint);
    } catch (NotEvaluated e) {
      run.warnings.add(
          "nft rule not evaluated ("
              + label()
              + " "
              + chain.name()
              + " handle "
              + rule.handle()
              + "): "
              + e.getMessage()
              + "; assumed it does not match");
      b.step(
          step(
              StepKind.UNEVALUATED,
              chain,
              rule,
              "not evaluated (" + e.getMessage() + "): assumed no match",
              null));
      return List.of(new Res(b, null));
    }
  }

  private List<Res> stmts(
      Branch b, Ruleset.Rule rule, Ruleset.Chain chain, int i, int depth, ReasonCode hint) {
    if (i == rule.statements().size()) {
      return List.of(new Res(b, null));
    }
    Stmt s = rule.statements().get(i);
    switch (s) {
      case Stmt.Match m -> {
        return match(m, b) ? stmts(b, rule, chain, i + 1, depth, hint) : List.of(new Res(b, null));
      }
      case Stmt.Verdict v -> {
        return verdict(b, v.kind(), v.target(), rule, chain, i, depth, hint, "");
      }
      case Stmt.VerdictMap vm -> {
        return vmap(b, vm, rule, chain, i, depth, hint);
      }
      case Stmt.Mangle mg -> {
        long v = number(value(mg.value(), b));
        String what;
        if (mg.key() instanceof Expr.Meta mk && mk.key().equals("mark")) {
          b.mark = v & 0xffffffffL;
          what = "mark set to 0x" + Long.toHexString(b.mark);
        } else if (mg.key() instanceof Expr.Ct ck && ck.key().equals("mark")) {
          b.ctMark = v & 0xffffffffL;
          what = "ct mark set to 0x" + Long.toHexString(b.ctMark);
        } else {
          throw new NotEvaluated("setting " + NftPrinter.expr(mg.key()));
        }
        b.step(step(StepKind.TARGET, chain, rule, what, null));
        return stmts(b, rule, chain, i + 1, depth, hint);
      }
      case Stmt.Nat n -> {
        return nat(b, n, rule, chain);
      }
      case Stmt.Reject r -> {
        ReasonCode why = hint != null ? hint : ReasonCode.REJECTED;
        b.step(step(StepKind.TARGET, chain, rule, "reject", why));
        return List.of(new Res(b, Kind.REJECT));
      }
      case Stmt.Passive p -> {
        if (p.kind().equals("log")) {
          b.step(step(StepKind.RULE_MATCH, chain, rule, "log (packet unchanged)", null));
        }
        return stmts(b, rule, chain, i + 1, depth, hint);
      }
      case Stmt.Notrack n -> {
        if (!b.tracked) {
          b.ctState = "UNTRACKED";
          b.natDecided = true;
          b.step(step(StepKind.TARGET, chain, rule, "notrack: not tracked, nat is skipped", null));
        }
        return stmts(b, rule, chain, i + 1, depth, hint);
      }
      case Stmt.SetUpdate u -> {
        Object key = value(u.elem(), b);
        String timeout =
            table
                .set(u.set())
                .map(Ruleset.NamedSet::timeout)
                .map(t -> t == null ? "" : ", timeout " + t + "s")
                .orElse("");
        b.step(
            step(
                StepKind.RULE_MATCH,
                chain,
                rule,
                u.op()
                    + " @"
                    + u.set()
                    + " with "
                    + show(key)
                    + timeout
                    + ": this client's next connections take the same path while it lasts",
                null));
        return stmts(b, rule, chain, i + 1, depth, hint);
      }
      case Stmt.Unknown u -> throw new NotEvaluated("statement \"" + u.kind() + "\"");
    }
  }

  private List<Res> verdict(
      Branch b,
      String kind,
      String target,
      Ruleset.Rule rule,
      Ruleset.Chain chain,
      int i,
      int depth,
      ReasonCode hint,
      String via) {
    switch (kind) {
      case "accept" -> {
        b.step(step(StepKind.TARGET, chain, rule, via + "accept", null));
        return List.of(new Res(b, Kind.ACCEPT));
      }
      case "drop" -> {
        ReasonCode why = hint != null ? hint : ReasonCode.DROPPED_BY_RULE;
        b.step(step(StepKind.TARGET, chain, rule, via + "drop", why));
        return List.of(new Res(b, Kind.DROP));
      }
      case "return" -> {
        b.step(step(StepKind.TARGET, chain, rule, via + "return", null));
        return List.of(new Res(b, Kind.RETURN));
      }
      case "continue" -> {
        return List.of(new Res(b, null));
      }
      case "jump", "goto" -> {
        Ruleset.Chain to =
            table
                .chain(target)
                .orElseThrow(() -> new NotEvaluated(kind + " to missing chain " + target));
        b.step(step(StepKind.JUMP, chain, rule, via + kind + " " + target, null));
        List<Res> out = new ArrayList<>();
        for (Res r : walk(b, to, depth + 1, hint)) {
          if (r.kind() == Kind.RETURN && kind.equals("jump")) {
            out.addAll(stmts(r.branch(), rule, chain, i + 1, depth, hint));
          } else {
            out.add(r);
          }
        }
        return out;
      }
      default -> throw new NotEvaluated("verdict " + kind);
    }
  }

  private List<Res> vmap(
      Branch b,
      Stmt.VerdictMap vm,
      Ruleset.Rule rule,
      Ruleset.Chain chain,
      int i,
      int depth,
      ReasonCode hint) {
    List<Ruleset.Element> elements = elements(vm.data());
    String mapName = vm.data() instanceof Expr.SetRef r ? r.name() : null;
    ReasonCode elementHint =
        mapName != null && mapName.startsWith("no-endpoint-") ? ReasonCode.NO_ENDPOINTS : hint;
    if (vm.key() instanceof Expr.Numgen ng) {
      if (!ng.mode().equals("random") || ng.mod() < 1 || ng.mod() > MAX_NUMGEN) {
        throw new NotEvaluated(NftPrinter.expr(ng));
      }
      // Each value 0..mod-1 (plus offset) is equally likely; values that map to the same
      // element form one branch.
      Map<Ruleset.Element, Long> hits = new LinkedHashMap<>();
      long misses = 0;
      for (long v = ng.offset(); v < ng.offset() + ng.mod(); v++) {
        Ruleset.Element e = find(elements, v);
        if (e == null) {
          misses++;
        } else {
          hits.merge(e, 1L, Long::sum);
        }
      }
      List<Res> out = new ArrayList<>();
      boolean split = hits.size() + (misses > 0 ? 1 : 0) > 1;
      for (Map.Entry<Ruleset.Element, Long> h : hits.entrySet()) {
        double p = (double) h.getValue() / ng.mod();
        Branch x = split ? b.copy() : b;
        if (split) {
          run.splits++;
        }
        x.probability *= p;
        String via =
            String.format(
                Locale.ROOT, "numgen = %s (p=%.4f): ", NftPrinter.expr(h.getKey().key()), p);
        out.addAll(mapped(x, h.getKey(), rule, chain, i, depth, elementHint, via));
      }
      if (misses > 0) {
        Branch x = split ? b.copy() : b;
        x.probability *= (double) misses / ng.mod();
        x.step(
            step(
                StepKind.BRANCH_NOT_TAKEN,
                chain,
                rule,
                String.format(
                    Locale.ROOT,
                    "numgen value not in the map (p=%.4f): next rule",
                    (double) misses / ng.mod()),
                null));
        out.add(new Res(x, null));
      }
      return out;
    }
    Object key = value(vm.key(), b);
    for (Ruleset.Element e : elements) {
      if (matches(e.key(), key)) {
        return mapped(b, e, rule, chain, i, depth, elementHint, "");
      }
    }
    return List.of(new Res(b, null));
  }

  /** Applies the verdict a map element holds, saying which element it was. */
  private List<Res> mapped(
      Branch b,
      Ruleset.Element e,
      Ruleset.Rule rule,
      Ruleset.Chain chain,
      int i,
      int depth,
      ReasonCode hint,
      String via) {
    if (!(e.value() instanceof Expr.VerdictExpr v)) {
      throw new NotEvaluated("map data " + NftPrinter.expr(e.value()) + " is not a verdict");
    }
    String shown =
        via.isEmpty()
            ? "element "
                + NftPrinter.expr(e.key())
                + (e.comment() == null ? "" : " (" + e.comment() + ")")
                + timeouts(e)
                + ": "
            : via;
    return verdict(b, v.kind(), v.target(), rule, chain, i, depth, hint, shown);
  }

  private static String timeouts(Ruleset.Element e) {
    return (e.timeout() == null ? "" : ", timeout " + e.timeout() + "s")
        + (e.expires() == null ? "" : ", expires in " + e.expires() + "s");
  }

  private static Ruleset.Element find(List<Ruleset.Element> elements, long v) {
    for (Ruleset.Element e : elements) {
      if (matchesOne(e.key(), v)) {
        return e;
      }
    }
    return null;
  }

  private List<Ruleset.Element> elements(Expr data) {
    return switch (data) {
      case Expr.SetRef r ->
          table
              .set(r.name())
              .map(Ruleset.NamedSet::elements)
              .orElseThrow(() -> new NotEvaluated("set @" + r.name() + " is not in the table"));
      case Expr.AnonSet s -> s.elements();
      default -> throw new NotEvaluated("lookup in " + NftPrinter.expr(data));
    };
  }

  private List<Res> nat(Branch b, Stmt.Nat n, Ruleset.Rule rule, Ruleset.Chain chain) {
    String flags = n.flags().isEmpty() ? "" : " (" + String.join(",", n.flags()) + ")";
    switch (n.kind()) {
      case "dnat" -> {
        if (n.addr() != null) {
          b.dst = ipv4(value(n.addr(), b));
        }
        if (n.port() != null) {
          b.dport = port(n.port(), b, b.dport);
        }
        b.dnatDone = true;
        b.step(
            step(StepKind.TARGET, chain, rule, "DNAT to " + b.dst + ":" + b.dport + flags, null));
      }
      case "redirect" -> {
        String to =
            b.inIface.isEmpty() || b.inIface.equals("lo")
                ? "127.0.0.1"
                : run.node.iface(b.inIface).stream()
                    .flatMap(x -> x.addresses().stream())
                    .map(NodeState.Address::ip)
                    .filter(Ip::isIpv4)
                    .findFirst()
                    .orElse("");
        if (to.isEmpty()) {
          b.step(
              step(
                  StepKind.TARGET,
                  chain,
                  rule,
                  "redirect: " + b.inIface + " has no address: dropped",
                  ReasonCode.DROPPED_BY_RULE));
          return List.of(new Res(b, Kind.DROP));
        }
        b.dst = to;
        if (n.port() != null) {
          b.dport = port(n.port(), b, b.dport);
        }
        b.dnatDone = true;
        b.step(step(StepKind.TARGET, chain, rule, "redirect to " + b.dst + ":" + b.dport, null));
      }
      case "snat" -> {
        if (n.addr() != null) {
          b.src = ipv4(value(n.addr(), b));
        }
        if (n.port() != null) {
          b.sport = port(n.port(), b, b.sport);
        }
        b.snatDone = true;
        b.step(
            step(StepKind.TARGET, chain, rule, "SNAT to " + b.src + ":" + b.sport + flags, null));
      }
      case "masquerade" -> {
        Routing.Decision d = run.routing.lookup(b.dst, null, "", b.mark);
        String src =
            run.routing.deviceAddress(b.outIface, d.gateway().isEmpty() ? b.dst : d.gateway());
        if (src.isEmpty()) {
          b.step(
              step(
                  StepKind.TARGET,
                  chain,
                  rule,
                  "masquerade: " + b.outIface + " has no address: dropped",
                  ReasonCode.MASQUERADE_NO_ADDRESS));
          return List.of(new Res(b, Kind.DROP));
        }
        b.src = src;
        if (n.port() != null) {
          b.sport = port(n.port(), b, b.sport);
        }
        b.snatDone = true;
        b.masquerade = true;
        b.step(
            step(
                StepKind.TARGET,
                chain,
                rule,
                "masquerade to " + src + " (primary address of " + b.outIface + ")" + flags,
                null));
      }
      default -> throw new NotEvaluated(n.kind());
    }
    // A nat statement is the rule's verdict: the binding is made and the packet accepted.
    return List.of(new Res(b, Kind.ACCEPT));
  }

  /** A NAT port: kept when a range holds it, else the range's (or the value's) first port. */
  private int port(Expr e, Branch b, int current) {
    if (e instanceof Expr.Range r) {
      long lo = number(value(r.lo(), b));
      long hi = number(value(r.hi(), b));
      return current >= lo && current <= hi ? current : (int) lo;
    }
    return (int) number(value(e, b));
  }

  private static String ipv4(Object v) {
    if (v instanceof String s && Ip.isIpv4(s)) {
      return s;
    }
    throw new NotEvaluated("NAT to " + v + ", which is not an IPv4 address");
  }

  // ---- expressions ----

  /** The value an expression has for the packet: a String, a Long, a Set of flags or a List. */
  private Object value(Expr e, Branch b) {
    return switch (e) {
      case Expr.Literal l -> l.isNumber() ? (Object) l.number() : l.text();
      case Expr.Payload p -> payload(p, b);
      case Expr.Meta m -> meta(m, b);
      case Expr.Ct c -> ct(c, b);
      case Expr.Fib f -> fib(f, b);
      case Expr.Concat c -> {
        List<Object> parts = new ArrayList<>();
        for (Expr x : c.parts()) {
          parts.add(value(x, b));
        }
        yield parts;
      }
      case Expr.Binary bin -> {
        long l = number(value(bin.left(), b));
        long r = number(value(bin.right(), b));
        yield switch (bin.op()) {
          case "&" -> l & r;
          case "|" -> l | r;
          case "^" -> l ^ r;
          case "<<" -> (l << r) & 0xffffffffL;
          case ">>" -> l >>> r;
          default -> throw new NotEvaluated("operator " + bin.op());
        };
      }
      default -> throw new NotEvaluated("expression " + NftPrinter.expr(e));
    };
  }

  /** A field of a header this packet does not have: nothing matches it. */
  private static final Object ABSENT = new Object();

  private Object payload(Expr.Payload p, Branch b) {
    switch (p.protocol()) {
      case "ip" -> {
        return switch (p.field()) {
          case "saddr" -> b.src;
          case "daddr" -> b.dst;
          case "protocol" -> b.proto;
          default -> throw new NotEvaluated("ip " + p.field());
        };
      }
      case "th", "tcp", "udp", "sctp" -> {
        boolean ports = Set.of("tcp", "udp", "sctp", "udplite", "dccp").contains(b.proto);
        if (!ports || (!p.protocol().equals("th") && !p.protocol().equals(b.proto))) {
          return ABSENT;
        }
        return switch (p.field()) {
          case "dport" -> (long) b.dport;
          case "sport" -> (long) b.sport;
          default -> throw new NotEvaluated(p.protocol() + " " + p.field());
        };
      }
      case "ip6", "icmpv6" -> {
        return ABSENT;
      }
      case "icmp" -> {
        if (!b.proto.equals("icmp")) {
          return ABSENT;
        }
        // A traced ICMP packet is an echo request, as for iptables' icmp match.
        return switch (p.field()) {
          case "type" -> "echo-request";
          case "code" -> 0L;
          default -> throw new NotEvaluated("icmp " + p.field());
        };
      }
      default -> throw new NotEvaluated(p.protocol() + " " + p.field());
    }
  }

  private Object meta(Expr.Meta m, Branch b) {
    return switch (m.key()) {
      case "l4proto" -> b.proto;
      case "nfproto" -> "ipv4";
      case "protocol" -> "ip";
      case "mark" -> b.mark;
      case "iifname", "iif" -> b.inIface;
      case "oifname", "oif" -> b.outIface;
      default -> throw new NotEvaluated("meta " + m.key());
    };
  }

  private Object ct(Expr.Ct c, Branch b) {
    if (c.dir() != null) {
      throw new NotEvaluated("ct " + c.dir() + " " + c.key());
    }
    return switch (c.key()) {
      case "state" -> b.ctState.toLowerCase(Locale.ROOT);
      case "mark" -> b.ctMark;
      case "direction" -> b.replyDirection ? "reply" : "original";
      case "status" -> {
        Set<String> s = new HashSet<>();
        if (b.dnatDone) {
          s.add("dnat");
        }
        if (b.snatDone) {
          s.add("snat");
        }
        if (b.ctState.equals("ESTABLISHED")) {
          s.addAll(Set.of("seen-reply", "assured", "confirmed"));
        }
        yield s;
      }
      default -> throw new NotEvaluated("ct " + c.key());
    };
  }

  /**
   * {@code fib saddr/daddr type}: the address type in the local routing table, as addrtype (a
   * "local" route there, not just an interface address); with iif/oif, local only on that
   * interface.
   */
  private Object fib(Expr.Fib f, Branch b) {
    if (!f.result().equals("type")) {
      throw new NotEvaluated("fib " + String.join(" . ", f.flags()) + " " + f.result());
    }
    String ip = f.flags().contains("saddr") ? b.src : f.flags().contains("daddr") ? b.dst : null;
    if (ip == null) {
      throw new NotEvaluated("fib " + String.join(" . ", f.flags()) + " type");
    }
    String type = run.routing.addrType(ip).toLowerCase(Locale.ROOT);
    String dev =
        f.flags().contains("iif") ? b.inIface : f.flags().contains("oif") ? b.outIface : null;
    if (dev != null && type.equals("local")) {
      boolean onDev =
          run.node
              .iface(dev)
              .map(x -> x.addresses().stream().anyMatch(a -> a.ip().equals(ip)))
              .orElse(false);
      type = onDev ? "local" : "unicast";
    }
    return type;
  }

  private static long number(Object v) {
    if (v instanceof Long l) {
      return l;
    }
    if (v instanceof String s) {
      try {
        return s.startsWith("0x") ? Long.parseLong(s.substring(2), 16) : Long.parseLong(s);
      } catch (NumberFormatException e) {
        throw new NotEvaluated("\"" + s + "\" is not a number");
      }
    }
    throw new NotEvaluated(show(v) + " is not a number");
  }

  private static String show(Object v) {
    if (v instanceof List<?> l) {
      return String.join(" . ", l.stream().map(NftWalker::show).toList());
    }
    return String.valueOf(v);
  }

  // ---- matching ----

  private boolean match(Stmt.Match m, Branch b) {
    Object left = value(m.left(), b);
    if (left == ABSENT || (left instanceof List<?> l && l.contains(ABSENT))) {
      // The packet has no such header: nft's implicit protocol check fails, whatever the op.
      return false;
    }
    return switch (m.op()) {
      case "==", "in" -> contains(m.right(), left);
      case "!=" -> !contains(m.right(), left);
      case "<", ">", "<=", ">=" -> {
        long l = number(left);
        long r = number(value(m.right(), b));
        yield switch (m.op()) {
          case "<" -> l < r;
          case ">" -> l > r;
          case "<=" -> l <= r;
          default -> l >= r;
        };
      }
      default -> throw new NotEvaluated("operator " + m.op());
    };
  }

  /** Whether {@code right} (a value, prefix, range, flag list or set) holds {@code v}. */
  private boolean contains(Expr right, Object v) {
    return switch (right) {
      case Expr.SetRef r -> elements(r).stream().anyMatch(e -> matches(e.key(), v));
      case Expr.AnonSet s -> s.elements().stream().anyMatch(e -> matches(e.key(), v));
      case Expr.Flags f -> {
        if (v instanceof Set<?> have) {
          yield f.values().stream().anyMatch(have::contains);
        }
        yield f.values().stream().anyMatch(x -> matchesOne(Expr.Literal.of(x), v));
      }
      default -> matches(right, v);
    };
  }

  private List<Ruleset.Element> elements(Expr.SetRef r) {
    return elements((Expr) r);
  }

  /** Whether an element key (value, prefix, range, or a concatenation of them) matches. */
  private static boolean matches(Expr key, Object v) {
    if (key instanceof Expr.Concat c) {
      if (!(v instanceof List<?> vs) || vs.size() != c.parts().size()) {
        return false;
      }
      for (int i = 0; i < vs.size(); i++) {
        if (!matchesOne(c.parts().get(i), vs.get(i))) {
          return false;
        }
      }
      return true;
    }
    return matchesOne(key, v);
  }

  private static boolean matchesOne(Expr key, Object v) {
    return switch (key) {
      case Expr.Literal l -> equal(l, v);
      case Expr.Prefix p ->
          v instanceof String s && Ip.isIpv4(s) && Cidr.parse(p.addr() + "/" + p.len()).contains(s);
      case Expr.Range r -> {
        if (v instanceof String s && Ip.isIpv4(s)) {
          long x = Ip.ipv4ToLong(s);
          yield x >= Ip.ipv4ToLong(r.lo().toString()) && x <= Ip.ipv4ToLong(r.hi().toString());
        }
        if (v instanceof Long n
            && r.lo() instanceof Expr.Literal lo
            && r.hi() instanceof Expr.Literal hi) {
          yield n >= number(lo.isNumber() ? lo.number() : lo.text())
              && n <= number(hi.isNumber() ? hi.number() : hi.text());
        }
        yield false;
      }
      case Expr.Flags f -> f.values().stream().anyMatch(x -> equal(Expr.Literal.of(x), v));
      case Expr.Concat c -> matches(c, v);
      default -> throw new NotEvaluated("element " + NftPrinter.expr(key));
    };
  }

  private static boolean equal(Expr.Literal l, Object v) {
    if (v instanceof Long n) {
      if (l.isNumber()) {
        return l.number().longValue() == n;
      }
      Long svc = service(l.text());
      return svc != null && svc.longValue() == n;
    }
    if (v instanceof Set<?> s) {
      return s.contains(l.toString());
    }
    if (v instanceof String s) {
      String t = l.isNumber() ? protoName(l.number()) : l.text();
      if (t.endsWith("*") && !t.endsWith("\\*")) {
        // An interface name wildcard: "veth*".
        return s.startsWith(t.substring(0, t.length() - 1));
      }
      return s.equals(t);
    }
    return false;
  }

  /** A port given by name where a number is expected (inet_service). */
  private static Long service(String s) {
    return switch (s) {
      case "http" -> 80L;
      case "https" -> 443L;
      case "domain" -> 53L;
      case "ssh" -> 22L;
      default -> {
        try {
          yield s.startsWith("0x") ? Long.parseLong(s.substring(2), 16) : Long.parseLong(s);
        } catch (NumberFormatException e) {
          yield null;
        }
      }
    };
  }

  private static String protoName(long n) {
    return switch ((int) n) {
      case 1 -> "icmp";
      case 6 -> "tcp";
      case 17 -> "udp";
      case 132 -> "sctp";
      default -> Long.toString(n);
    };
  }
}
