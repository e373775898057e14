package dev.svcproxy.trace.engine;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** Runs the participants of one hook in priority order; immutable once built. */
final class HookWalker {
  private final Map<Hook, List<HookParticipant>> byHook;

  HookWalker(List<HookParticipant> participants) {
    Map<Hook, List<HookParticipant>> m = new EnumMap<>(Hook.class);
    for (Hook h : Hook.values()) {
      List<HookParticipant> at = new ArrayList<>();
      for (HookParticipant p : participants) {
        if (p.hook() == h) {
          at.add(p);
        }
      }
      // A stable sort: participants of equal priority keep the order they are given in (nft base
      // chains come in the order the kernel runs them: see NftBaseChain.participants).
      at.sort(Comparator.comparingInt(HookParticipant::priority));
      m.put(h, List.copyOf(at));
    }
    this.byHook = Map.copyOf(m);
  }

  /** The participants of {@code hook}, in the order they run. */
  List<HookParticipant> at(Hook hook) {
    return byHook.get(hook);
  }

  /**
   * Runs {@code in} through every participant of {@code hook}; returns the paths that got through.
   */
  List<Branch> run(Hook hook, List<Branch> in, TraceRun run, List<Branch> done) {
    List<Branch> cur = in;
    for (HookParticipant p : byHook.get(hook)) {
      if (cur.isEmpty()) {
        break;
      }
      cur = p.run(cur, run, done);
    }
    return cur;
  }
}
