package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.TypedRule;
import dev.svcproxy.netfilter.match.Match;
import dev.svcproxy.netfilter.match.PortRange;
import dev.svcproxy.netfilter.target.Target;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.engine.ChainWalker.Kind;
import dev.svcproxy.trace.engine.ChainWalker.Res;
import java.util.List;
import java.util.Set;

/** What a matched rule's target does to a packet path: verdicts, NAT, marks, jumps. */
final class Targets {
  private Targets() {}

  /** Where a matched rule sits, to record what its target did to a branch. */
  private record Matched(String hook, String table, String chain, int n, Rule rule, String prob) {
    /**
     * Records the step (a target that decided or changed the packet) and ends the rule with {@code
     * kind} (null: continue after the rule).
     */
    List<Res> result(Branch b, String effect, Kind kind) {
      return result(b, StepKind.TARGET, effect, kind, null);
    }

    List<Res> result(Branch b, StepKind stepKind, String effect, Kind kind, ReasonCode reason) {
      b.step(new Step(stepKind, hook, table, chain, n, rule.print(), effect + prob, reason));
      return List.of(new Res(b, kind));
    }
  }

  /**
   * Why a DROP or REJECT rule ended the path: kube-proxy's rules for a Service without (local)
   * endpoints say so in their comment ("ns/svc:port has no endpoints", "... has no local
   * endpoints").
   */
  private static ReasonCode dropReason(TypedRule rule, ReasonCode dflt) {
    return rule.match(Match.Comment.class)
        .map(Match.Comment::text)
        .filter(c -> c.contains("has no endpoints") || c.contains("has no local endpoints"))
        .map(c -> ReasonCode.NO_ENDPOINTS)
        .orElse(dflt);
  }

  /**
   * Applies a matched rule's target. Returns results with kind null for "continue after this rule",
   * RETURN for a called chain that returned (continue after a jump) or for RETURN itself.
   */
  static List<Res> apply(
      Rule rule,
      Branch b,
      TableView v,
      String hook,
      String chain,
      int n,
      int depth,
      double p,
      TraceRun run) {
    Branch before = b.copy();
    try {
      return applyTarget(rule, b, v, hook, chain, n, depth, p, run);
    } catch (RuntimeException e) {
      // A bad value in a pasted rule (a DNAT address that is not one, a mark "0xZZ"): the trace
      // goes on from the state before the rule, and says what it assumed.
      String reason = RuleEvaluator.reason(e);
      run.warnings.add(
          "could not apply -j "
              + rule.target()
              + ": "
              + reason
              + ", assumed it lets the packet continue unchanged ("
              + v.label()
              + " "
              + chain
              + " rule "
              + n
              + ")");
      before.step(
          new Step(
              StepKind.UNEVALUATED,
              hook,
              v.label(),
              chain,
              n,
              rule.print(),
              "could not apply -j " + rule.target() + " (" + reason + "): assumed it continues"));
      return List.of(new Res(before, null));
    }
  }

  private static List<Res> applyTarget(
      Rule rule,
      Branch b,
      TableView v,
      String hook,
      String chain,
      int n,
      int depth,
      double p,
      TraceRun run) {
    Target target = run.eval.target(rule);
    Matched at =
        new Matched(hook, v.label(), chain, n, rule, p < 1 ? String.format(" (p=%.4f)", p) : "");
    switch (target) {
      case Target.None x -> {
        return at.result(b, StepKind.RULE_MATCH, "matched (no target)", null, null);
      }
      case Target.Accept x -> {
        return at.result(b, "ACCEPT", Kind.ACCEPT);
      }
      case Target.Drop x -> {
        return at.result(
            b,
            StepKind.TARGET,
            "DROP",
            Kind.DROP,
            dropReason(run.eval.typed(rule), ReasonCode.DROPPED_BY_RULE));
      }
      case Target.Reject x -> {
        return at.result(
            b,
            StepKind.TARGET,
            "REJECT",
            Kind.REJECT,
            dropReason(run.eval.typed(rule), ReasonCode.REJECTED));
      }
      case Target.Return x -> {
        return at.result(b, "RETURN", Kind.RETURN);
      }
      case Target.Dnat d -> {
        // --random and --persistent only change which address/port of a range the kernel picks.
        String ip = ipv4(d.to().ipFrom());
        if (ip != null) {
          b.dst = ip;
        }
        b.dport = dstPort(d.to().ports(), b.dport);
        b.dnatDone = true;
        return at.result(b, "DNAT to " + b.dst + ":" + b.dport, Kind.ACCEPT);
      }
      case Target.Redirect r -> {
        // nf_nat_redirect_ipv4: loopback for locally generated packets, else the first address
        // of the incoming interface (whatever the source), and a drop when it has none.
        String to =
            b.inIface.isEmpty() || b.inIface.equals("lo")
                ? "127.0.0.1"
                : run.node.iface(b.inIface).stream()
                    .flatMap(i -> i.addresses().stream())
                    .map(NodeState.Address::ip)
                    .filter(Ip::isIpv4)
                    .findFirst()
                    .orElse("");
        if (to.isEmpty()) {
          return at.result(
              b,
              StepKind.TARGET,
              "REDIRECT: " + b.inIface + " has no address: dropped",
              Kind.DROP,
              ReasonCode.DROPPED_BY_RULE);
        }
        b.dst = to;
        b.dport = dstPort(r.ports(), b.dport);
        b.dnatDone = true;
        return at.result(b, "REDIRECT to " + b.dst + ":" + b.dport, Kind.ACCEPT);
      }
      case Target.Snat s -> {
        String from = ipv4(s.to().ipFrom());
        boolean keep =
            from != null
                && inRange(b.src, from, ipv4(s.to().ipTo()))
                && (s.to().ports() == null || s.to().ports().contains(b.sport));
        // nf_nat_core get_unique_tuple: a source already inside the range is left as it is.
        if (!keep) {
          if (from != null) {
            b.src = from;
          }
          b.sport = srcPort(s.to().ports(), b.sport);
        }
        b.snatDone = true;
        return at.result(b, "SNAT to " + b.src + ":" + b.sport, Kind.ACCEPT);
      }
      case Target.Masquerade m -> {
        Routing.Decision d = run.routing.lookup(b.dst, null, "", b.mark);
        String src =
            run.routing.deviceAddress(b.outIface, d.gateway().isEmpty() ? b.dst : d.gateway());
        if (src.isEmpty()) {
          return at.result(
              b,
              StepKind.TARGET,
              "MASQUERADE: " + b.outIface + " has no address: dropped",
              Kind.DROP,
              ReasonCode.MASQUERADE_NO_ADDRESS);
        }
        b.src = src;
        b.sport = srcPort(m.ports(), b.sport);
        b.snatDone = true;
        b.masquerade = true;
        return at.result(
            b,
            "MASQUERADE to "
                + src
                + (m.ports() == null ? "" : ":" + b.sport)
                + " (primary address of "
                + b.outIface
                + ")",
            Kind.ACCEPT);
      }
      case Target.Mark m -> {
        b.mark = m.apply(b.mark);
        return at.result(b, "mark set to 0x" + Long.toHexString(b.mark), null);
      }
      case Target.ConnMark c -> {
        long[] r = c.apply(b.ctMark, b.mark);
        b.ctMark = r[0];
        b.mark = r[1];
        return at.result(
            b,
            "connmark 0x" + Long.toHexString(b.ctMark) + ", mark 0x" + Long.toHexString(b.mark),
            null);
      }
      case Target.NoTrack x -> {
        if (b.tracked) {
          // xt_CT leaves a packet alone that already carries a conntrack entry (one looped back
          // after OUTPUT, or a reply).
          return at.result(b, "already tracked: NOTRACK has no effect", null);
        }
        b.ctState = "UNTRACKED";
        b.natDecided = true;
        return at.result(b, "not tracked: nat is skipped", null);
      }
      case Target.Ct x -> {
        return at.result(b, "CT", null);
      }
      case Target.Log x -> {
        return at.result(b, StepKind.RULE_MATCH, "LOG (packet unchanged)", null, null);
      }
      case Target.Unknown u when UNCHANGED.contains(u.name()) -> {
        return at.result(b, StepKind.RULE_MATCH, u.name() + " (packet unchanged)", null, null);
      }
      case Target.Jump j
          when v.chains().containsKey(j.chain()) || v.policies().containsKey(j.chain()) -> {
        at.result(b, StepKind.JUMP, (j.isGoto() ? "goto " : "jump ") + j.chain(), null, null);
        // Whether a RETURN continues after this rule (jump) or ends this chain too (goto) is
        // decided by the caller from the rule.
        return ChainWalker.walk(b, v, hook, j.chain(), depth + 1, run);
      }
      case Target.Jump x -> {
        return unknown(rule, v, chain, n, b, at, run);
      }
      case Target.Unknown x -> {
        return unknown(rule, v, chain, n, b, at, run);
      }
      case Target.Invalid i -> throw new IllegalArgumentException(i.reason());
    }
  }

  /** Targets that only log, count or touch fields the tracer does not follow. */
  private static final Set<String> UNCHANGED =
      Set.of(
          "NFLOG",
          "ULOG",
          "TRACE",
          "AUDIT",
          "NFQUEUE_BYPASS",
          "TCPMSS",
          "CHECKSUM",
          "TOS",
          "DSCP",
          "TTL",
          "CLASSIFY",
          "SET");

  private static List<Res> unknown(
      Rule rule, TableView v, String chain, int n, Branch b, Matched at, TraceRun run) {
    run.warnings.add(
        "unknown target "
            + rule.target()
            + " in "
            + v.table()
            + " "
            + chain
            + " rule "
            + n
            + "; assumed it lets the packet continue");
    return at.result(
        b,
        StepKind.UNEVALUATED,
        "unknown target " + rule.target() + ": assumed to continue",
        null,
        null);
  }

  /** A NAT range's address, null when the range keeps the address; IPv4 only, as the tracer. */
  private static String ipv4(String ip) {
    if (ip != null && !Ip.isIpv4(ip)) {
      throw new IllegalArgumentException("not an IPv4 address: " + ip);
    }
    return ip;
  }

  private static boolean inRange(String ip, String from, String to) {
    long x = Ip.ipv4ToLong(ip);
    return x >= Ip.ipv4ToLong(from) && x <= Ip.ipv4ToLong(to);
  }

  /**
   * The destination port after DNAT/REDIRECT (nf_nat_core get_unique_tuple, no clash assumed): kept
   * when the range holds it, else the range's first port, which is where the kernel starts for a
   * destination without --random. A range's address is likewise its first one here, where the
   * kernel hashes the tuple over the range.
   */
  private static int dstPort(PortRange ports, int port) {
    return ports == null || ports.contains(port) ? port : ports.lo();
  }

  /**
   * The source port after SNAT/MASQUERADE: kept when the range holds it; else the kernel picks one
   * of the range at random, and the tracer names the range's first port.
   */
  private static int srcPort(PortRange ports, int port) {
    return ports == null || ports.contains(port) ? port : ports.lo();
  }
}
