package dev.svcproxy.cli;

import dev.svcproxy.model.Ip;
import dev.svcproxy.source.Printable;
import dev.svcproxy.trace.PacketSpec;
import java.util.List;
import java.util.Locale;

/** The packet of trace's and doctor's --src/--sport/--dst/--proto/--in-iface, validated. */
final class PacketFlags {
  private PacketFlags() {}

  /** The packet these flags describe; IllegalArgumentException naming the flag when one is bad. */
  static PacketSpec parse(String src, int sport, String dst, String proto, String inIface) {
    String p = proto.toLowerCase(Locale.ROOT);
    if (!List.of("tcp", "udp", "sctp", "icmp").contains(p)) {
      throw new IllegalArgumentException(
          "--proto: unknown protocol " + Printable.quoted(proto) + " (tcp, udp, sctp, icmp)");
    }
    int colon = dst.lastIndexOf(':');
    String ip = colon < 0 ? dst : dst.substring(0, colon);
    int port;
    try {
      port = colon < 0 ? 0 : Integer.parseInt(dst.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--dst: invalid port in " + Printable.quoted(dst));
    }
    if (p.equals("icmp") && colon >= 0) {
      throw new IllegalArgumentException(
          "--dst: icmp has no port: give the address alone, got " + Printable.quoted(dst));
    }
    if (inIface != null && src == null) {
      // As --src without --dst: a packet created on the node arrives on no interface.
      throw new IllegalArgumentException(
          "--in-iface: only with --src (without it the packet is created on the node)");
    }
    if (!Ip.isIpv4(ip) || port < 0 || port > 65535 || (colon < 0 && !p.equals("icmp"))) {
      throw new IllegalArgumentException("--dst: expected IPv4:PORT, got " + Printable.quoted(dst));
    }
    if (src != null && !Ip.isIpv4(src)) {
      throw new IllegalArgumentException("--src: invalid IPv4 address " + Printable.quoted(src));
    }
    if (sport < 0 || sport > 65535) {
      throw new IllegalArgumentException("--sport: expected 0-65535, got " + sport);
    }
    // The kernel's rule for interface names: 1-15 bytes, no '/', ':' or white space.
    if (inIface != null && !inIface.matches("[^/:\\s]{1,15}")) {
      throw new IllegalArgumentException(
          "--in-iface: not an interface name: " + Printable.quoted(inIface));
    }
    return new PacketSpec(src, sport, ip, port, p, inIface);
  }
}
