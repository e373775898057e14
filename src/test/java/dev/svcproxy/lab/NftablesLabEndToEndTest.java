package dev.svcproxy.lab;

import java.util.regex.Pattern;

/**
 * The end-to-end suite with svcproxy in nftables mode: the same connections, the same outcomes
 * (upstream's nftables mode promises iptables mode's behaviour for all of them).
 */
class NftablesLabEndToEndTest extends LabEndToEndSuite {
  /** An affinity set's element counts down its expiry; that is not a change of the rules. */
  private static final Pattern EXPIRES = Pattern.compile(" expires [0-9hms]+");

  @Override
  String mode() {
    return "nftables";
  }

  @Override
  String natRules(Lab.Node n) {
    String table = lab().in(n.netns(), "nft", "list", "table", "ip", "kube-proxy").stdout();
    return EXPIRES.matcher(table).replaceAll("");
  }

  /**
   * Whether the web Service's endpoint chain for {@code ipPort} still DNATs: upstream names it
   * endpoint-HASH-default/web/tcp/http__IP/PORT; other Services share the pods.
   */
  @Override
  boolean sendsTo(String rules, String ipPort) {
    String chain = "/web/tcp/http__" + ipPort.replace(':', '/') + " {";
    int at = rules.indexOf(chain);
    if (at < 0) {
      return false;
    }
    int end = rules.indexOf("\n\t}", at);
    return rules.substring(at, end < 0 ? rules.length() : end).contains("dnat to " + ipPort);
  }
}
