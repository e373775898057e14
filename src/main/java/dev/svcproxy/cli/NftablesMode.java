package dev.svcproxy.cli;

import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.nftables.NftObjects;
import dev.svcproxy.nftables.NftRuleset;
import dev.svcproxy.render.nftables.NftablesOptions;
import dev.svcproxy.render.nftables.NftablesRenderer;
import dev.svcproxy.sync.nftables.NftRender;

/** Where run and render get nftables mode's renderer for this node. */
final class NftablesMode {
  private NftablesMode() {}

  /** The renderer of upstream's {@code ip kube-proxy} table for the node {@code cfg} describes. */
  static NftRender renderer(ProxyConfig cfg) {
    NftablesRenderer r = new NftablesRenderer(cfg, NftablesOptions.defaults());
    return new NftRender() {
      @Override
      public NftRuleset render(ProxyState state) {
        return r.render(state);
      }

      @Override
      public NftObjects base(ProxyState state) {
        return r.base(state);
      }

      @Override
      public NftObjects servicePort(ProxyState state, ServicePortName spn) {
        return r.servicePort(state, spn);
      }
    };
  }
}
