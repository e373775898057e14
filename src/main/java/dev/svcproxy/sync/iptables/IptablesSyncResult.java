package dev.svcproxy.sync.iptables;

import dev.svcproxy.netfilter.Line;
import dev.svcproxy.render.iptables.RenderResult;
import dev.svcproxy.sync.SyncResult;
import java.util.Map;
import java.util.Optional;

/**
 * What one iptables sync wrote.
 *
 * @param render the render of the state the kernel now holds (excluded ports left out or held back)
 * @param restores iptables-restore runs the sync took, refused ones and cleanups included
 * @param switchInput the text of the sync's last (switch) transaction, as written
 * @param full whether the sync was full (the proxier syncs in full when it lost track of the
 *     kernel, whatever the loop asked)
 * @param refused iptables-restore runs the kernel refused during the sync
 */
public record IptablesSyncResult(
    RenderResult render, int restores, String switchInput, boolean full, int refused)
    implements SyncResult {
  @Override
  public String summary() {
    return render.natRulesTotal()
        + " nat rules, "
        + render.deletedChains()
        + " stale chains deleted, "
        + restores
        + (restores == 1 ? " restore" : " restores");
  }

  @Override
  public Optional<Boolean> wasFull() {
    return Optional.of(full);
  }

  /**
   * As upstream counts them: every filter rule, and every nat rule of the ruleset whether this sync
   * wrote it or skipped the unchanged chain holding it ("-X" lines are not rules).
   */
  @Override
  public Map<String, Integer> iptablesRulesTotal() {
    return Map.of("filter", render.filterRules(), "nat", render.natRulesTotal());
  }

  /**
   * As upstream counts them: the rule lines of the restore input a sync of this kind writes (the
   * chains of unchanged services left out of a partial sync). A full sync counts the chains it
   * found already in the kernel too, since upstream's full sync rewrites them.
   */
  @Override
  public Map<String, Integer> iptablesRulesLastSync() {
    int nat =
        render
            .restoreInput()
            .table("nat")
            .map(t -> (int) t.lines().stream().filter(l -> l instanceof Line.RuleLine).count())
            .orElse(0);
    return Map.of("filter", render.filterRules(), "nat", nat);
  }

  @Override
  public int refusedRestores() {
    return refused;
  }
}
