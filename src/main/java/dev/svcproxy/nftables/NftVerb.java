package dev.svcproxy.nftables;

/** The nft commands a transaction uses. */
public enum NftVerb {
  ADD,
  CREATE,
  FLUSH,
  DELETE;

  /** The keyword as nft reads it. */
  public String keyword() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
