package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.engine.ChainWalker.Kind;
import dev.svcproxy.trace.engine.ChainWalker.Res;
import java.util.List;

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
  private static ReasonCode dropReason(Rule rule, ReasonCode dflt) {
    return rule.comment()
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
    String target = rule.target();
    Matched at =
        new Matched(hook, v.label(), chain, n, rule, p < 1 ? String.format(" (p=%.4f)", p) : "");
    switch (target) {
      case "" -> {
        return at.result(b, StepKind.RULE_MATCH, "matched (no target)", null, null);
      }
      case "ACCEPT" -> {
        return at.result(b, "ACCEPT", Kind.ACCEPT);
      }
      case "DROP" -> {
        return at.result(
            b, StepKind.TARGET, "DROP", Kind.DROP, dropReason(rule, ReasonCode.DROPPED_BY_RULE));
      }
      case "REJECT" -> {
        return at.result(
            b, StepKind.TARGET, "REJECT", Kind.REJECT, dropReason(rule, ReasonCode.REJECTED));
      }
      case "RETURN" -> {
        return at.result(b, "RETURN", Kind.RETURN);
      }
      case "DNAT", "REDIRECT" -> {
        if (target.equals("REDIRECT")) {
          // REDIRECT: the incoming interface's primary address (loopback for local packets).
          String ports = opt(rule, "--to-ports");
          int port = ports == null ? b.dport : RuleEvaluator.port(ports.split("[-:]")[0]);
          b.dst =
              b.inIface.isEmpty() || b.inIface.equals("lo")
                  ? "127.0.0.1"
                  : run.routing.deviceAddress(b.inIface, b.src);
          b.dport = port;
        } else {
          String[] hp = hostPort(required(rule, "--to-destination"), b.dport);
          b.dst = hp[0];
          b.dport = Integer.parseInt(hp[1]);
        }
        b.dnatDone = true;
        return at.result(b, target + " to " + b.dst + ":" + b.dport, Kind.ACCEPT);
      }
      case "SNAT" -> {
        String[] hp = hostPort(required(rule, "--to-source"), b.sport);
        b.src = hp[0];
        b.sport = Integer.parseInt(hp[1]);
        b.snatDone = true;
        return at.result(b, "SNAT to " + b.src + ":" + b.sport, Kind.ACCEPT);
      }
      case "MASQUERADE" -> {
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
        b.snatDone = true;
        b.masquerade = true;
        return at.result(
            b, "MASQUERADE to " + src + " (primary address of " + b.outIface + ")", Kind.ACCEPT);
      }
      case "MARK" -> {
        b.mark = markOp(rule, b.mark);
        return at.result(b, "mark set to 0x" + Long.toHexString(b.mark), null);
      }
      case "CONNMARK" -> {
        if (rule.option("--restore-mark").isPresent()) {
          b.mark = b.ctMark;
        } else if (rule.option("--save-mark").isPresent()) {
          b.ctMark = b.mark;
        } else {
          b.ctMark = markOp(rule, b.ctMark);
        }
        return at.result(
            b,
            "connmark 0x" + Long.toHexString(b.ctMark) + ", mark 0x" + Long.toHexString(b.mark),
            null);
      }
      case "NOTRACK", "CT" -> {
        if (target.equals("NOTRACK") || rule.option("--notrack").isPresent()) {
          if (b.tracked) {
            // xt_CT leaves a packet alone that already carries a conntrack entry (one looped back
            // after OUTPUT, or a reply).
            return at.result(b, "already tracked: NOTRACK has no effect", null);
          }
          b.ctState = "UNTRACKED";
          b.natDecided = true;
          return at.result(b, "not tracked: nat is skipped", null);
        }
        return at.result(b, "CT", null);
      }
      case "LOG",
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
          "SET" -> {
        return at.result(b, StepKind.RULE_MATCH, target + " (packet unchanged)", null, null);
      }
      default -> {
        if (v.chains().containsKey(target) || v.policies().containsKey(target)) {
          boolean isGoto = rule.jump().map(Arg.Jump::isGoto).orElse(false);
          at.result(b, StepKind.JUMP, (isGoto ? "goto " : "jump ") + target, null, null);
          // Whether a RETURN continues after this rule (jump) or ends this chain too (goto) is
          // decided by the caller from the rule.
          return ChainWalker.walk(b, v, hook, target, depth + 1, run);
        }
        run.warnings.add(
            "unknown target "
                + target
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
            "unknown target " + target + ": assumed to continue",
            null,
            null);
      }
    }
  }

  private static long markOp(Rule rule, long mark) {
    for (Arg.Option o : rule.options(rule.target())) {
      String t = o.text();
      switch (o.flag()) {
        case "--set-xmark" -> {
          String[] f = t.split("/");
          long v = RuleEvaluator.num(f[0]);
          long m = f.length > 1 ? RuleEvaluator.num(f[1]) : 0xFFFFFFFFL;
          return ((mark & ~m) ^ v) & 0xFFFFFFFFL;
        }
        case "--set-mark" -> {
          String[] f = t.split("/");
          long v = RuleEvaluator.num(f[0]);
          long m = f.length > 1 ? RuleEvaluator.num(f[1]) : 0xFFFFFFFFL;
          return ((mark & ~m) | v) & 0xFFFFFFFFL;
        }
        case "--or-mark" -> {
          return mark | RuleEvaluator.num(t);
        }
        case "--and-mark" -> {
          return mark & RuleEvaluator.num(t);
        }
        case "--xor-mark" -> {
          return mark ^ RuleEvaluator.num(t);
        }
        default -> {}
      }
    }
    return mark;
  }

  private static String opt(Rule rule, String flag) {
    return rule.option(flag).map(Arg.Option::text).orElse(null);
  }

  private static String required(Rule rule, String flag) {
    String v = opt(rule, flag);
    if (v == null) {
      throw new IllegalArgumentException("no " + flag);
    }
    return v;
  }

  /**
   * "ip[-ip2][:port[-port2]]" → first ip and port (keeping {@code dflt} when none); both checked,
   * so that a bad value stops here rather than travelling on in the packet.
   */
  private static String[] hostPort(String to, int dflt) {
    String ip = to;
    String port = Integer.toString(dflt);
    int colon = to.lastIndexOf(':');
    if (colon > 0) {
      ip = to.substring(0, colon);
      port = Integer.toString(RuleEvaluator.port(to.substring(colon + 1).split("-")[0]));
    }
    ip = ip.split("-")[0];
    if (!Ip.isIpv4(ip)) {
      throw new IllegalArgumentException("not an IPv4 address: " + ip);
    }
    return new String[] {ip, port};
  }
}
