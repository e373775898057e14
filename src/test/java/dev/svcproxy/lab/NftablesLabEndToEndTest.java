package dev.svcproxy.lab;

/** The end-to-end suite with svcproxy in nftables mode (the ip kube-proxy table). */
class NftablesLabEndToEndTest extends LabEndToEndSuite {
  @Override
  String mode() {
    return "nftables";
  }

  /**
   * The table without the contents of its sets and maps ({@code -t}): affinity sets fill and expire
   * with traffic, which is not a change of rules.
   */
  @Override
  String natRules(Lab.Node n) {
    return lab().in(n.netns(), "nft", "-t", "list", "table", "ip", "kube-proxy").stdout();
  }

  /** Whether web's service chain still picks the endpoint chain of {@code ipPort}. */
  @Override
  boolean sendsTo(String rules, String ipPort) {
    String ep = "/web/tcp/http__" + ipPort.replace(':', '/');
    return rules.lines().anyMatch(l -> l.contains("goto endpoint-") && l.contains(ep));
  }
}
