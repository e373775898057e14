package dev.svcproxy.cli;

import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.sync.nftables.NftRender;

/** Where run and render get nftables mode's renderer for this node. */
final class NftablesMode {
  private NftablesMode() {}

  /** The renderer of upstream's {@code ip kube-proxy} table for the node {@code cfg} describes. */
  static NftRender renderer(ProxyConfig cfg) {
    throw new IllegalArgumentException(
        "--mode nftables: this build has no nftables renderer yet (render.nftables)");
  }
}
