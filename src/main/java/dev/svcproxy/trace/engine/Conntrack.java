package dev.svcproxy.trace.engine;

import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import java.util.List;

/**
 * Connection tracking: the lookup after raw (priority -200), which pins an existing connection's
 * NAT, the source binding an entry gives at the source-NAT hooks, and the reply tuple that undoes
 * the NAT on the way back.
 */
final class Conntrack implements HookParticipant {
  private final Hook hook;

  Conntrack(Hook hook) {
    this.hook = hook;
  }

  /** The lookups the kernel does: in PREROUTING and OUTPUT, where packets enter the stack. */
  static List<HookParticipant> participants() {
    return List.of(new Conntrack(Hook.PREROUTING), new Conntrack(Hook.OUTPUT));
  }

  @Override
  public Hook hook() {
    return hook;
  }

  @Override
  public int priority() {
    return Priority.CONNTRACK;
  }

  @Override
  public String name() {
    return "conntrack";
  }

  /**
   * A packet raw marked NOTRACK skips the lookup (nf_conntrack_in ignores a packet that already
   * carries the untracked entry), so an existing entry's NAT does not apply to it, and the nat
   * table never sees it either. A packet that already carries an entry (looped back after OUTPUT,
   * or a reply) is not looked up again.
   */
  @Override
  public List<Branch> run(List<Branch> in, TraceRun run, List<Branch> done) {
    for (Branch b : in) {
      if (b.tracked || b.conntrackSeen) {
        continue;
      }
      b.conntrackSeen = true;
      if (b.ctState.equals("UNTRACKED")) {
        b.step(
            Step.note(
                StepKind.CONNTRACK,
                "conntrack",
                "untracked (NOTRACK in raw): no conntrack lookup, so no entry's NAT applies,"
                    + " and nat chains are skipped"));
      } else {
        lookup(b, run.node);
      }
    }
    return in;
  }

  /** TCP states in which a new SYN replaces the entry instead of joining it. */
  private static final java.util.Set<String> REOPENED = java.util.Set.of("TIME_WAIT", "CLOSE");

  /** Looks the packet up in the captured conntrack table; NAT then comes from the entry. */
  static void lookup(Branch b, NodeState node) {
    b.tracked = true;
    for (NodeState.ConntrackEntry e : node.conntrack()) {
      if (!e.proto().equals(b.proto)) {
        continue;
      }
      NodeState.Tuple o = e.original();
      NodeState.Tuple r = e.reply();
      if (o.src().equals(b.src)
          && o.dst().equals(b.dst)
          && o.sport() == b.sport
          && o.dport() == b.dport) {
        if (e.proto().equals("tcp") && REOPENED.contains(e.state())) {
          // The traced packet opens a connection: a SYN on a closed one makes the kernel delete
          // the entry and look again (nf_conntrack_proto_tcp), so NAT is decided afresh.
          b.step(
              Step.note(
                  StepKind.CONNTRACK,
                  "conntrack",
                  "entry in "
                      + e.state()
                      + " for this tuple: a new SYN reopens it (the kernel deletes it), state NEW"));
          continue;
        }
        b.ctState = e.seenReply() ? "ESTABLISHED" : "NEW";
        b.natDecided = true;
        b.ctMark = e.mark();
        if (isVirtualServer(node, e.proto(), o.dst(), o.dport())) {
          // An IPVS connection (net.ipv4.vs.conntrack=1): IPVS updated the entry's reply tuple, but
          // IPVS itself rewrites the destination, at its own hook.
          b.ctIpvsDest = new String[] {r.src(), Integer.toString(r.sport())};
          b.step(
              Step.note(
                  StepKind.CONNTRACK,
                  "conntrack",
                  "existing IPVS connection ("
                      + (e.seenReply() ? "ESTABLISHED" : "UNREPLIED")
                      + ") to real server "
                      + r.src()
                      + ":"
                      + r.sport()
                      + "; IPVS, not conntrack, rewrites the destination; nat chains are skipped"));
          if (!r.dst().equals(o.src()) || r.dport() != o.sport()) {
            b.snatDone = true;
          }
          b.ctSource = new String[] {r.dst(), Integer.toString(r.dport())};
          return;
        }
        b.step(
            Step.note(
                StepKind.CONNTRACK,
                "conntrack",
                "existing connection ("
                    + (e.seenReply() ? "ESTABLISHED" : "UNREPLIED")
                    + "): reply tuple "
                    + r.src()
                    + ":"
                    + r.sport()
                    + " -> "
                    + r.dst()
                    + ":"
                    + r.dport()
                    + "; its NAT applies, nat chains are skipped"));
        if (!r.src().equals(o.dst()) || r.sport() != o.dport()) {
          b.dst = r.src();
          b.dport = r.sport();
          b.dnatDone = true;
        }
        if (!r.dst().equals(o.src()) || r.dport() != o.sport()) {
          b.snatDone = true;
        }
        b.ctSource = new String[] {r.dst(), Integer.toString(r.dport())};
        return;
      }
      if (r.src().equals(b.src)
          && r.dst().equals(b.dst)
          && r.sport() == b.sport
          && r.dport() == b.dport) {
        b.ctState = "ESTABLISHED";
        b.replyDirection = true;
        b.natDecided = true;
        b.step(
            Step.note(
                StepKind.CONNTRACK,
                "conntrack",
                "reply of connection "
                    + o.src()
                    + ":"
                    + o.sport()
                    + " -> "
                    + o.dst()
                    + ":"
                    + o.dport()
                    + ": de-NATed to "
                    + o.dst()
                    + ":"
                    + o.dport()
                    + " -> "
                    + o.src()
                    + ":"
                    + o.sport()));
        b.dst = o.src();
        b.dport = o.sport();
        b.ctSource = new String[] {o.dst(), Integer.toString(o.dport())};
        return;
      }
    }
    b.step(Step.note(StepKind.CONNTRACK, "conntrack", "no conntrack entry: state NEW"));
  }

  private static boolean isVirtualServer(NodeState node, String proto, String ip, int port) {
    return node.ipvs().services().stream()
        .anyMatch(
            s ->
                s.server().kind().name().equalsIgnoreCase(proto)
                    && s.server().address().equals(ip)
                    && s.server().port() == port);
  }

  /**
   * At a source-NAT hook, a connection whose NAT is already decided takes its source from its entry
   * (the nat chains are not consulted).
   */
  static void applySourceBinding(Branch b, Hook hook) {
    String[] s = b.ctSource;
    if (s != null && !b.replyDirection && (!s[0].equals(b.src))) {
      b.step(
          Step.note(
              StepKind.CONNTRACK,
              hook.name(),
              "conntrack: source rewritten to " + s[0] + ":" + s[1]));
      b.src = s[0];
      b.sport = Integer.parseInt(s[1]);
    } else if (s != null && b.replyDirection) {
      b.src = s[0];
      b.sport = Integer.parseInt(s[1]);
    }
  }

  /**
   * The reply to a delivered request, as it arrives back on the interface the request left by: an
   * ESTABLISHED packet of the same connection, whose NAT is decided.
   */
  static Branch replyOf(Branch request) {
    Branch r =
        new Branch(
            request.dst,
            request.dport,
            request.src,
            request.sport,
            request.proto,
            request.outIface);
    r.ctState = "ESTABLISHED";
    r.replyDirection = true;
    r.natDecided = true;
    r.tracked = true;
    r.probability = 1.0;
    r.ipvsBinding = request.ipvsBinding;
    return r;
  }

  /** Before routing, conntrack undoes the request's source NAT on the reply's destination. */
  static void unSnat(Branch reply, Branch request) {
    if (request.snatDone) {
      reply.dst = request.origSrc;
      reply.dport = request.origSport;
      reply.step(
          Step.note(
              StepKind.CONNTRACK,
              "conntrack",
              "reply de-SNATed: destination back to "
                  + reply.dst
                  + Tracer.portSuffix(reply.dport)));
    }
  }

  /** On the way out, conntrack undoes the request's destination NAT on the reply's source. */
  static void unDnat(Branch reply, Branch request) {
    // IPVS undoes its own destination rewrite, at its reply hook.
    if (request.dnatDone && request.ipvsBinding == null) {
      reply.src = request.origDst;
      reply.sport = request.origDport;
      reply.step(
          Step.note(
              StepKind.CONNTRACK,
              "conntrack",
              "reply de-DNATed: source back to " + reply.src + Tracer.portSuffix(reply.sport)));
    }
  }
}
