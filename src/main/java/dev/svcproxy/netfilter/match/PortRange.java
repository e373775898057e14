package dev.svcproxy.netfilter.match;

/** An inclusive port range; a single port has {@code lo == hi}. */
public record PortRange(int lo, int hi) {
  public PortRange {
    if (lo < 0 || hi > 65535 || lo > hi) {
      throw new IllegalArgumentException("not a port range: " + lo + ":" + hi);
    }
  }

  public boolean contains(int port) {
    return port >= lo && port <= hi;
  }

  /** As iptables-save prints it: "80" or "80:90". */
  @Override
  public String toString() {
    return lo == hi ? Integer.toString(lo) : lo + ":" + hi;
  }
}
