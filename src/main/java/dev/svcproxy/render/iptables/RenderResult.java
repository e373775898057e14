package dev.svcproxy.render.iptables;

import dev.svcproxy.netfilter.Ruleset;
import java.util.Collections;
import java.util.Set;

/**
 * A rendered iptables-restore input and what a sync needs to know about it.
 *
 * @param natRulesTotal nat rules the full ruleset holds, written or skipped
 */
public record RenderResult(
    Ruleset restoreInput,
    Set<String> activeNatChains,
    int filterRules,
    int natRulesTotal,
    boolean largeClusterMode,
    int deletedChains) {
  public RenderResult {
    // Not copied: the renderer hands over a set it never touches again, and copying 110k chain
    // names at 10k services cost 40% of a partial sync.
    activeNatChains = Collections.unmodifiableSet(activeNatChains);
  }

  /** The iptables-restore text. */
  public String text() {
    return restoreInput.print();
  }
}
