package dev.svcproxy.nftables;

import java.util.List;

/**
 * One element of the set or map {@code set}: the key's parts ("172.30.0.41", "tcp", "80", joined
 * with " . "), for a map the value's parts ("goto service-...", or several for a concatenated
 * value), and an optional comment ("" for none).
 */
public record NftElement(String set, List<String> key, List<String> value, String comment) {
  public NftElement {
    NftText.name("element set", set);
    key = List.copyOf(key);
    value = List.copyOf(value);
    if (key.isEmpty()) {
      throw new IllegalArgumentException("element of " + set + " without a key");
    }
    key.forEach(k -> NftText.body("element key in " + set, k));
    value.forEach(v -> NftText.body("element value in " + set, v));
    comment = NftText.comment("element comment", comment == null ? "" : comment);
  }

  /** A set element without comment. */
  public static NftElement of(String set, String... key) {
    return new NftElement(set, List.of(key), List.of(), "");
  }

  /** The key as nft prints it: its parts joined by " . ". */
  public String keyText() {
    return String.join(" . ", key);
  }
}
