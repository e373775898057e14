package dev.svcproxy.nftables;

import java.util.List;

/**
 * A set or, with {@code map}, a map: {@code type} as nft declares it ("ipv4_addr", "ipv4_addr .
 * inet_proto . inet_service : verdict"), flags ("dynamic", "timeout", "interval"), timeout
 * ("10800s" or "" for none) and comment ("" for none).
 */
public record NftSet(
    String name, boolean map, String type, List<String> flags, String timeout, String comment) {
  public NftSet {
    NftText.name(map ? "map" : "set", name);
    NftText.body((map ? "map " : "set ") + name + " type", type);
    flags = List.copyOf(flags);
    flags.forEach(f -> NftText.name("set flag", f));
    timeout = timeout == null ? "" : timeout;
    if (!timeout.isEmpty()) {
      NftText.name("set timeout", timeout);
    }
    comment = NftText.comment("set comment", comment == null ? "" : comment);
    if (map != type.contains(":")) {
      throw new IllegalArgumentException(
          (map ? "map " : "set ") + name + " with type " + type + ": a map type has a ':'");
    }
  }

  /** A plain set or map without flags, timeout or comment. */
  public static NftSet of(String name, boolean map, String type, String comment) {
    return new NftSet(name, map, type, List.of(), "", comment);
  }
}
