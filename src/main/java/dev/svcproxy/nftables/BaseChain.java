package dev.svcproxy.nftables;

/**
 * What makes a chain a base chain: its type ("filter", "nat"), netfilter hook ("prerouting",
 * "input", "forward", "output", "postrouting") and priority as nft takes it ("-110", "dstnat").
 */
public record BaseChain(String type, String hook, String priority) {
  public BaseChain {
    NftText.name("chain type", type);
    NftText.name("chain hook", hook);
    NftText.body("chain priority", priority);
  }
}
