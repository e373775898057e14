package dev.svcproxy.trace.engine;

import java.util.ArrayList;
import java.util.List;

/**
 * The iptables nat table at one hook: consulted only for a connection's first packet. A packet
 * whose NAT is decided (an existing conntrack entry, NOTRACK, or a binding made earlier) skips the
 * chains, and at the source-NAT hooks takes its entry's source binding; after a source-NAT hook the
 * binding is made, whether or not a rule matched (nf_nat's null binding).
 */
record IptablesNat(Hook hook, int priority, List<TableView> views) implements HookParticipant {

  IptablesNat {
    views = List.copyOf(views);
  }

  @Override
  public String name() {
    return "iptables nat";
  }

  private boolean sourceHook() {
    return hook == Hook.POSTROUTING || hook == Hook.INPUT;
  }

  @Override
  public List<Branch> run(List<Branch> in, TraceRun run, List<Branch> done) {
    List<Branch> out = new ArrayList<>();
    for (Branch b : in) {
      if (b.ipvsForwarded && hook == Hook.OUTPUT) {
        // Sent on by IPVS from INPUT: the connection's destination binding was made at
        // PREROUTING, so nf_nat does not consult the OUTPUT chains.
        out.add(b);
        continue;
      }
      if (b.natDecided) {
        if (sourceHook()) {
          Conntrack.applySourceBinding(b, hook);
        }
        out.add(b);
        continue;
      }
      List<Branch> cur = List.of(b);
      for (TableView v : views) {
        if (v.chains().containsKey(hook.name())) {
          cur = ChainWalker.runChain(cur, v, hook, run, done);
        }
      }
      out.addAll(cur);
    }
    // The binding after a source-NAT hook is made by NatBinding, once every nat chain of the hook
    // (nft ones too) has had its turn.
    return ChainWalker.mergeStates(out);
  }
}
