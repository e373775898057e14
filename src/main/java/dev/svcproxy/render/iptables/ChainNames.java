package dev.svcproxy.render.iptables;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;

/** Upstream's chain names: base32(sha256(...)) truncated to 16 characters behind a prefix. */
public final class ChainNames {
  public static final String SERVICES = "KUBE-SERVICES";
  public static final String EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES";
  public static final String NODEPORTS = "KUBE-NODEPORTS";
  public static final String POSTROUTING = "KUBE-POSTROUTING";
  public static final String MARK_MASQ = "KUBE-MARK-MASQ";
  public static final String FORWARD = "KUBE-FORWARD";
  public static final String PROXY_FIREWALL = "KUBE-PROXY-FIREWALL";
  public static final String FIREWALL = "KUBE-FIREWALL";
  public static final String CANARY = "KUBE-PROXY-CANARY";

  /** Prefixes of per-service chains, by which stale ones are found. */
  public static final List<String> SERVICE_PREFIXES =
      List.of("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-");

  private static final char[] BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".toCharArray();

  private ChainNames() {}

  /** The 16-character hash shared by a service port's SVC/SVL/EXT/FW chains. */
  public static String portProtoHash(String servicePortName, String protocol) {
    return hash16(servicePortName + protocol);
  }

  public static String svc(String spn, String proto) {
    return "KUBE-SVC-" + portProtoHash(spn, proto);
  }

  public static String svl(String spn, String proto) {
    return "KUBE-SVL-" + portProtoHash(spn, proto);
  }

  public static String ext(String spn, String proto) {
    return "KUBE-EXT-" + portProtoHash(spn, proto);
  }

  public static String fw(String spn, String proto) {
    return "KUBE-FW-" + portProtoHash(spn, proto);
  }

  /** KUBE-SEP- chain of one endpoint ("ip:port"). */
  public static String sep(String spn, String proto, String endpoint) {
    return "KUBE-SEP-" + hash16(spn + proto + endpoint);
  }

  public static boolean isServiceChain(String chain) {
    return SERVICE_PREFIXES.stream().anyMatch(chain::startsWith);
  }

  private static String hash16(String s) {
    byte[] h;
    try {
      h = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    // Standard base32 of the first 10 bytes yields exactly the first 16 characters.
    StringBuilder out = new StringBuilder(16);
    long bits = 0;
    int n = 0;
    for (int i = 0; i < 10; i++) {
      bits = (bits << 8) | (h[i] & 0xff);
      n += 8;
      while (n >= 5) {
        out.append(BASE32[(int) ((bits >> (n - 5)) & 31)]);
        n -= 5;
      }
    }
    return out.toString();
  }
}
