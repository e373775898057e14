package dev.svcproxy.nftables;

/**
 * One rule of a chain: its body as nft takes it ("ip daddr @cluster-ips reject") and an optional
 * comment ("" for none), which nft keeps beside the rule.
 */
public record NftRule(String chain, String body, String comment) {
  public NftRule {
    NftText.name("rule chain", chain);
    NftText.body("rule of chain " + chain, body);
    comment = NftText.comment("rule comment", comment == null ? "" : comment);
  }

  /** A rule without a comment. */
  public NftRule(String chain, String body) {
    this(chain, body, "");
  }
}
