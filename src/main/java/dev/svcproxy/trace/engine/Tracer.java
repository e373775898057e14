package dev.svcproxy.trace.engine;

import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceResult;
import java.util.ArrayList;
import java.util.List;

/**
 * Walks one packet through a node as the kernel would: the packet's path through the hooks ({@link
 * PacketPaths}), each hook's participants in priority order ({@link HookWalker}: conntrack, the
 * raw, mangle, nat, filter and security tables of both iptables backends, IPVS, the nftables base
 * chains of tables of family ip and inet), routing after PREROUTING and OUTPUT, NAT on a
 * connection's first packet only, every statistic branch with its probability, and the reply
 * ({@link ReplyAnalysis}). A pure function of the NodeState and the packet: every call gets its own
 * {@link TraceRun}.
 */
public final class Tracer {
  /** The default bound on the number of outcomes of one trace. */
  public static final int DEFAULT_MAX_OUTCOMES = 1000;

  /**
   * How many outcomes may follow each other before outcomes that differ only in the endpoint fold.
   */
  private final int maxOutcomes;

  private final NodeState node;
  private final HookWalker hooks;

  /** What the nftables participants left out (other families, iptables-nft's tables). */
  private final List<String> nftNotes;

  public Tracer(NodeState node) {
    this(node, DEFAULT_MAX_OUTCOMES);
  }

  /**
   * A tracer that summarises past {@code maxOutcomes} outcomes: outcomes that differ only in the
   * endpoint fold into one per verdict and path shape.
   */
  public Tracer(NodeState node, int maxOutcomes) {
    this(node, maxOutcomes, List.of());
  }

  /** A tracer with {@code extra} participants beside conntrack and the iptables tables. */
  Tracer(NodeState node, int maxOutcomes, List<HookParticipant> extra) {
    if (maxOutcomes < 1) {
      throw new IllegalArgumentException("maxOutcomes must be at least 1, not " + maxOutcomes);
    }
    this.maxOutcomes = maxOutcomes;
    this.node = node;
    List<HookParticipant> all = new ArrayList<>(Conntrack.participants());
    all.addAll(IptablesTable.participants(TableView.of(node.iptables())));
    all.addAll(IpvsHook.participants(node.ipvs()));
    List<String> nftNotes = new ArrayList<>();
    all.addAll(NftBaseChain.participants(node, nftNotes));
    all.addAll(extra);
    // Registered last, so that among equal priorities it runs after every nat chain.
    all.addAll(NatBinding.participants());
    this.hooks = new HookWalker(all);
    this.nftNotes = List.copyOf(nftNotes);
  }

  /** Traces {@code spec}; returns every outcome with its probability. */
  public TraceResult trace(PacketSpec spec) {
    TraceRun run = new TraceRun(node, hooks, maxOutcomes);
    run.warnings.addAll(nftNotes);
    boolean local = spec.src() == null || run.routing.isLocalAddress(spec.src());
    List<Branch> done = new ArrayList<>();
    if (local) {
      PacketPaths.traceLocal(spec, run, done);
    } else {
      PacketPaths.traceIncoming(spec, run, done);
    }
    List<Outcome> outcomes = Outcomes.of(done, run);
    return new TraceResult(spec, outcomes, new ArrayList<>(run.warnings));
  }

  static String portSuffix(int port) {
    return port > 0 ? ":" + port : "";
  }
}
