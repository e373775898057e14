package dev.svcproxy.model;

/** An IPv4 or IPv6 prefix such as 10.0.0.0/8; a bare address is a host prefix. */
public record Cidr(String address, int prefixLength, boolean ipv6) {

  /** Parses "a.b.c.d/n", "x::/n" or a bare address; rejects anything else. */
  public static Cidr parse(String text) {
    String s = text.trim();
    int slash = s.indexOf('/');
    String addr = slash < 0 ? s : s.substring(0, slash);
    boolean v6 = Ip.isIpv6(addr);
    if (!v6 && !Ip.isIpv4(addr)) {
      throw new IllegalArgumentException("invalid CIDR \"" + text + "\"");
    }
    int max = v6 ? 128 : 32;
    int len = max;
    if (slash >= 0) {
      String p = s.substring(slash + 1);
      if (!p.matches("\\d{1,3}") || Integer.parseInt(p) > max) {
        throw new IllegalArgumentException("invalid CIDR \"" + text + "\"");
      }
      len = Integer.parseInt(p);
    }
    return new Cidr(addr, len, v6);
  }

  /**
   * Reads a prefix as upstream's ParseCIDRSloppy does and returns its network, as kube-proxy uses
   * it: leading zeros are allowed in IPv4 octets and in the prefix length ("203.0.113.000/025" is
   * 203.0.113.0/25), surrounding spaces are ignored (the API server trims them too), host bits are
   * cleared as Go's ParseCIDR reports the network ("10.0.0.1/8" is 10.0.0.0/8), and a prefix length
   * is required.
   */
  public static Cidr parseSloppy(String text) {
    String s = text == null ? "" : text.strip();
    int slash = s.indexOf('/');
    if (slash < 0 || s.length() > 100) {
      throw new IllegalArgumentException("invalid CIDR");
    }
    String addr = s.substring(0, slash);
    String len = s.substring(slash + 1);
    long v4 = Ip.ipv4ToLongSloppy(addr);
    boolean v6 = v4 < 0 && Ip.isIpv6(addr);
    if (v4 < 0 && !v6) {
      throw new IllegalArgumentException("invalid CIDR");
    }
    int max = v6 ? 128 : 32;
    if (len.isEmpty() || len.length() > 10 || !len.chars().allMatch(c -> c >= '0' && c <= '9')) {
      throw new IllegalArgumentException("invalid CIDR");
    }
    int n = Integer.parseInt(len);
    if (n > max) {
      throw new IllegalArgumentException("invalid CIDR");
    }
    return new Cidr(v6 ? addr : Ip.longToIpv4(v4), n, v6).masked();
  }

  /** The network address with host bits cleared, as Go's net.ParseCIDR reports it. */
  public Cidr masked() {
    if (ipv6) {
      return this;
    }
    return new Cidr(Ip.longToIpv4(Ip.ipv4ToLong(address) & mask()), prefixLength, false);
  }

  /** True when the IPv4 address {@code ip} lies in this prefix. */
  public boolean contains(String ip) {
    if (ipv6 || !Ip.isIpv4(ip)) {
      return false;
    }
    return (Ip.ipv4ToLong(ip) & mask()) == (Ip.ipv4ToLong(address) & mask());
  }

  private long mask() {
    return prefixLength == 0 ? 0 : (0xFFFFFFFFL << (32 - prefixLength)) & 0xFFFFFFFFL;
  }

  @Override
  public String toString() {
    return address + "/" + prefixLength;
  }
}
