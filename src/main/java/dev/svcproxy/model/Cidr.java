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
