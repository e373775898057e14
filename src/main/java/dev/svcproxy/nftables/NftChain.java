package dev.svcproxy.nftables;

import java.util.List;
import java.util.Optional;

/**
 * One chain with its rules in order; a base chain also names its hook. {@code comment} is "" for
 * none.
 */
public record NftChain(String name, Optional<BaseChain> base, String comment, List<NftRule> rules) {
  public NftChain {
    NftText.name("chain", name);
    comment = NftText.comment("chain comment", comment == null ? "" : comment);
    rules = List.copyOf(rules);
    for (NftRule r : rules) {
      if (!r.chain().equals(name)) {
        throw new IllegalArgumentException(
            "rule of chain " + r.chain() + " listed in chain " + name + ": " + r.body());
      }
    }
  }

  /** A regular (non-base) chain without a comment. */
  public static NftChain regular(String name, List<NftRule> rules) {
    return new NftChain(name, Optional.empty(), "", rules);
  }

  /** The same chain without its rules: what "add chain" declares. */
  public NftChain declaration() {
    return rules.isEmpty() ? this : new NftChain(name, base, comment, List.of());
  }
}
