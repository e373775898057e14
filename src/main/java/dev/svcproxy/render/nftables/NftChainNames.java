package dev.svcproxy.render.nftables;

import dev.svcproxy.model.ServicePortName;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Upstream nftables mode's object names: a readable base ("ns/svc/tcp/port", plus "__ip/port" for
 * an endpoint) behind the first 8 characters of its own base32(sha256) and a prefix saying what the
 * object is. The hash keeps truncated names unique and makes endpoint chains that differ in one
 * digit easy to tell apart.
 */
public final class NftChainNames {
  public static final String SERVICE = "service-";
  public static final String LOCAL = "local-";
  public static final String EXTERNAL = "external-";
  public static final String FIREWALL = "firewall-";
  public static final String ENDPOINT = "endpoint-";
  public static final String AFFINITY = "affinity-";

  /** nft's name limit (256 with its NUL) less the longest prefix, as upstream reserves it. */
  static final int BASE_LENGTH_MAX = 256 - 16;

  private static final char[] BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".toCharArray();

  private NftChainNames() {}

  /** Upstream's hashAndTruncate: "HASH8-name", cut to 240 characters ending in "...". */
  public static String hashAndTruncate(String name) {
    String out = hash8(name) + "-" + name;
    if (out.length() > BASE_LENGTH_MAX) {
      out = out.substring(0, BASE_LENGTH_MAX - 3) + "...";
    }
    return out;
  }

  /** The base of a service port's chains: "HASH-ns/name/proto/port". */
  public static String servicePortBase(ServicePortName spn, String protocol) {
    return hashAndTruncate(spn.namespace() + "/" + spn.name() + "/" + protocol + "/" + spn.port());
  }

  /**
   * The base of one endpoint's chain and affinity set: "HASH-ns/name/proto/port__ip/port" for the
   * endpoint "ip:port" ("[ip6]:port"); an IPv6 address's colons, which nft names may not hold,
   * become dots.
   */
  public static String endpointBase(ServicePortName spn, String protocol, String endpoint) {
    int colon = endpoint.lastIndexOf(':');
    String host = endpoint.substring(0, colon);
    String port = endpoint.substring(colon + 1);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    host = host.replace(':', '.');
    return hashAndTruncate(
        spn.namespace()
            + "/"
            + spn.name()
            + "/"
            + protocol
            + "/"
            + spn.port()
            + "__"
            + host
            + "/"
            + port);
  }

  /** Whether {@code chain} belongs to a service port: only those names hold a '/'. */
  public static boolean isServiceChain(String chain) {
    return chain.contains("/");
  }

  /** Whether {@code set} is an endpoint's affinity set. */
  public static boolean isAffinitySet(String set) {
    return set.startsWith(AFFINITY);
  }

  /** The first 8 characters of base32(sha256(s)): the first 40 bits. */
  private static String hash8(String s) {
    byte[] h;
    try {
      h = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    long bits = 0;
    for (int i = 0; i < 5; i++) {
      bits = (bits << 8) | (h[i] & 0xff);
    }
    StringBuilder out = new StringBuilder(8);
    for (int i = 7; i >= 0; i--) {
      out.append(BASE32[(int) ((bits >> (5 * i)) & 31)]);
    }
    return out.toString();
  }
}
