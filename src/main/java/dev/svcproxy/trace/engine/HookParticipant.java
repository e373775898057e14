package dev.svcproxy.trace.engine;

import java.util.List;

/**
 * Something the kernel runs at one hook at one priority: an iptables table, the conntrack lookup,
 * and later nftables base chains or IPVS. The hook walker runs a hook's participants by priority
 * (registration order among equals); each gets the paths still alive and returns those that go on,
 * ending the others with {@link TraceRun#end}. Participants keep no state between calls: whatever
 * one trace learns lives in the {@link TraceRun} and the branches.
 */
interface HookParticipant {
  Hook hook();

  int priority();

  /** A short name for listings ("iptables mangle", "conntrack"). */
  String name();

  /**
   * Runs the packet paths {@code in} through this participant; returns those that continue. A path
   * that ends here goes to {@code done} through {@link TraceRun#end}.
   */
  List<Branch> run(List<Branch> in, TraceRun run, List<Branch> done);
}
