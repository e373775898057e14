package dev.svcproxy.trace.engine;

import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.Verdict;
import java.util.ArrayList;
import java.util.List;

/**
 * The reply to a delivered packet: whether it comes back through this node at all (and as what the
 * sender sees it), and if so its walk back: de-NAT by conntrack, ESTABLISHED through the chains.
 */
final class ReplyAnalysis {
  private ReplyAnalysis() {}

  /** The reply leg of a path that ended delivered by {@code delivery}. */
  static Outcome.Reply of(Branch b, String delivery, TraceRun run) {
    Outcome.Reply reply = analyse(b, delivery, run);
    if (reply.returnsHere() && !delivery.equals("local")) {
      reply = walk(b, reply, run);
    }
    return reply;
  }

  /**
   * Walks the reply back through this node: it arrives on the interface the request left by, as an
   * ESTABLISHED packet; conntrack undoes the source NAT before routing and the destination NAT on
   * the way out; nat chains are not consulted.
   */
  private static Outcome.Reply walk(Branch b, Outcome.Reply reply, TraceRun run) {
    Branch r = Conntrack.replyOf(b);
    r.step(
        Step.note(
            StepKind.PACKET,
            "PREROUTING",
            "reply " + r.tuple() + " arrives on " + r.inIface + " (ESTABLISHED)"));
    List<Branch> done = new ArrayList<>();
    List<Branch> pre = run.hook(Hook.PREROUTING, List.of(r), done);
    List<Branch> passed = new ArrayList<>();
    for (Branch x : pre) {
      Conntrack.unSnat(x, b);
      Routing.Decision d = run.routing.lookup(x.dst, x.src, x.inIface, x.mark);
      x.step(
          Step.note(
              StepKind.ROUTE,
              "routing",
              "route to " + x.dst + ": " + d.describe(),
              d.usable() ? null : ReasonCode.NO_ROUTE));
      if (!d.usable()) {
        run.end(x, Verdict.DROP, ReasonCode.NO_ROUTE, done);
        continue;
      }
      List<Branch> through;
      if (d.local()) {
        through = run.hook(Hook.INPUT, List.of(x), done);
      } else {
        x.outIface = d.dev();
        through = run.hook(Hook.POSTROUTING, run.hook(Hook.FORWARD, List.of(x), done), done);
      }
      for (Branch y : through) {
        Conntrack.unDnat(y, b);
        y.step(
            Step.note(
                StepKind.DELIVERY,
                d.local() ? "INPUT" : "POSTROUTING",
                (d.local() ? "reply delivered to the local socket" : "reply sent out " + y.outIface)
                    + " as "
                    + y.tuple()));
        passed.add(y);
      }
    }
    if (!passed.isEmpty()) {
      return reply.withWalk(Verdict.ACCEPT, passed.get(0).steps);
    }
    Branch dropped = done.isEmpty() ? r : done.get(0);
    Verdict v = dropped.endVerdict != null ? dropped.endVerdict : Verdict.DROP;
    return new Outcome.Reply(
        false,
        reply.seenBySenderFrom(),
        "the reply is "
            + (v == Verdict.REJECT ? "rejected" : "dropped")
            + " on its way back through this node",
        v == Verdict.REJECT ? ReasonCode.REPLY_REJECTED : ReasonCode.REPLY_DROPPED,
        v,
        dropped.steps);
  }

  /** Whether this node's default route (main table) leaves through {@code iface} via a gateway. */
  private static boolean defaultGatewayOn(String iface, TraceRun run) {
    return run.node.routes().stream()
        .anyMatch(
            r ->
                (r.table().isEmpty() || r.table().equals("main"))
                    && (r.dst().equals("0.0.0.0/0") || r.dst().equals("default"))
                    && r.gateway() != null
                    && !r.gateway().isEmpty()
                    && iface.equals(r.dev()));
  }

  /** Whether and how the reply comes back, from the addresses and routes alone. */
  private static Outcome.Reply analyse(Branch b, String delivery, TraceRun run) {
    Routing routing = run.routing;
    String seen = b.origDst + Tracer.portSuffix(b.origDport);
    if (delivery.equals("local")) {
      return new Outcome.Reply(
          true, seen, "answered by this node; conntrack restores " + seen + " as the source", null);
    }
    if (b.snatDone) {
      return new Outcome.Reply(
          true,
          seen,
          "the reply is addressed to "
              + b.src
              + ", this node; conntrack rewrites it back to "
              + seen,
          null);
    }
    if (b.src.isEmpty()) {
      // A packet of this node's own whose source could not be chosen: the input shows none of the
      // node's addresses. Where its reply goes is unknown, not a failure of the node.
      return new Outcome.Reply(
          false,
          seen,
          "not traced: the node's addresses are not in the input, so the packet's source (and"
              + " where its reply goes) is unknown; give --src",
          null);
    }
    if (b.src.equals(b.dst)) {
      return new Outcome.Reply(
          false,
          seen,
          b.dst
              + " receives a packet from its own address (a hairpin without masquerade)"
              + " and drops it as a martian; the connection never completes",
          ReasonCode.HAIRPIN_MARTIAN);
    }
    if (routing.isLocalAddress(b.src)) {
      boolean onOut =
          run.node
              .iface(b.outIface)
              .map(i -> i.addresses().stream().anyMatch(a -> a.ip().equals(b.src)))
              .orElse(false);
      boolean direct = routing.lookup(b.dst, null, "", 0).gateway().isEmpty();
      // A directly attached peer sends a reply to an address off its subnet to its own gateway.
      // When this node reaches the wider network through a gateway on that same link, so does the
      // peer (the book's hand-built IPVS service: the real server next door answered the VIP via
      // the gateway); pods on a bridge have this node itself as their gateway.
      boolean peerUsesAnotherGateway = direct && defaultGatewayOn(b.outIface, run);
      if (!onOut && (!direct || peerUsesAnotherGateway)) {
        return new Outcome.Reply(
            false,
            seen,
            "the packet leaves "
                + b.outIface
                + " with source "
                + b.src
                + ", an address of this node that is not on "
                + b.outIface
                + " (a VIP?): the peer's reply to it does not come back here unless the network routes "
                + b.src
                + " to this node",
            ReasonCode.REPLY_NOT_ROUTED_BACK);
      }
      return new Outcome.Reply(
          true, seen, "the reply is addressed to " + b.src + " on " + b.outIface, null);
    }
    if (b.dnatDone) {
      // The backend answers the client directly. That comes back here when this node is the
      // backend's gateway (backend directly attached), or the client's (the client sits behind
      // another interface of this node); otherwise the reply bypasses the node and its un-DNAT.
      Routing.Decision toBackend = routing.lookup(b.dst, null, "", 0);
      Routing.Decision toClient = routing.lookup(b.src, null, "", 0);
      if (toBackend.gateway().isEmpty() || !toClient.dev().equals(toBackend.dev())) {
        return new Outcome.Reply(
            true,
            seen,
            b.dst
                + " answers "
                + b.src
                + " through this node, which un-DNATs it to come from "
                + seen,
            null);
      }
      return new Outcome.Reply(
          false,
          seen,
          "DNAT without SNAT: "
              + b.dst
              + " (via "
              + toBackend.gateway()
              + ") can reach "
              + b.src
              + " without this node, so the reply would come from "
              + b.dst
              + ", not "
              + seen
              + ", and be dropped by the client",
          ReasonCode.REPLY_SOURCE_MISMATCH);
    }
    return new Outcome.Reply(
        true, seen, "forwarded unchanged; the reply follows the network's routes", null);
  }
}
