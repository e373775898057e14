package dev.svcproxy.sync.iptables;

import dev.svcproxy.render.iptables.RenderResult;
import dev.svcproxy.sync.SyncResult;

/**
 * What one iptables sync wrote.
 *
 * @param render the render of the state the kernel now holds (excluded ports left out or held back)
 * @param restores iptables-restore runs the sync took, refused ones and cleanups included
 * @param switchInput the text of the sync's last (switch) transaction, as written
 */
public record IptablesSyncResult(RenderResult render, int restores, String switchInput)
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
}
