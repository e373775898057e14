package dev.svcproxy.trace.engine;

import java.util.List;

/**
 * nf_nat's binding at a source-NAT hook: after every nat chain of the hook (iptables' and
 * nftables') had its turn, the connection's NAT is decided (nf_nat's null binding when none
 * matched), so that a packet looped back sees no nat chain again.
 */
record NatBinding(Hook hook) implements HookParticipant {
  static List<HookParticipant> participants() {
    return List.of(new NatBinding(Hook.INPUT), new NatBinding(Hook.POSTROUTING));
  }

  @Override
  public int priority() {
    return Priority.NAT_SRC;
  }

  @Override
  public String name() {
    return "nat binding";
  }

  @Override
  public List<Branch> run(List<Branch> in, TraceRun run, List<Branch> done) {
    for (Branch b : in) {
      b.natDecided = true;
    }
    return in;
  }
}
