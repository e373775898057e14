package dev.svcproxy.sync.nftables;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.nftables.NftObjects;
import dev.svcproxy.nftables.NftRuleset;
import java.util.function.Function;

/**
 * What the proxier needs of a renderer: the whole desired table for a full sync, and its fixed part
 * and one service port's part for a partial one, which re-renders only what changed.
 */
public interface NftRender {
  /** The desired table. */
  NftRuleset render(ProxyState state);

  /** The table's fixed part (base chains, helper chains, shared sets and maps). */
  default NftObjects base(ProxyState state) {
    return render(state).base();
  }

  /** What one service port adds to the table; empty when the state has no such port. */
  default NftObjects servicePort(ProxyState state, ServicePortName spn) {
    NftObjects o = render(state).services().get(spn);
    return o == null ? NftObjects.empty() : o;
  }

  /** A renderer of whole rulesets only: partial syncs render everything and use a part. */
  static NftRender of(Function<ProxyState, NftRuleset> full) {
    return full::apply;
  }
}
