package dev.svcproxy.render.iptables;

import java.util.Set;

/**
 * Which parts of the ruleset a sync writes.
 *
 * @param fullSync write every service's chains (otherwise only those of {@code changed})
 * @param changed namespaced names ("ns/name") whose Service or endpoints changed
 * @param existingNatChains the nat chains the kernel holds, to delete stale service chains; null to
 *     skip stale-chain cleanup
 */
public record RenderOptions(boolean fullSync, Set<String> changed, Set<String> existingNatChains) {
  public RenderOptions {
    changed = Set.copyOf(changed);
    existingNatChains = existingNatChains == null ? null : Set.copyOf(existingNatChains);
  }

  public static RenderOptions full() {
    return new RenderOptions(true, Set.of(), null);
  }
}
