package dev.svcproxy.cli;

import dev.svcproxy.trace.PacketSpec;
import java.util.Optional;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

/**
 * The packet options {@code trace} and {@code doctor} share (a picocli mixin): --src, --sport,
 * --dst, --proto, --in-iface. --dst is optional here; each command says whether it needs one.
 */
final class PacketOptions {
  @Option(
      names = "--src",
      paramLabel = "IP",
      description = "Source address (default: the packet is created on the node).")
  String src;

  // 0 means "not given": the tracer then uses 40000 (none for icmp), see PacketPaths.sport.
  @Option(
      names = "--sport",
      paramLabel = "PORT",
      defaultValue = "0",
      description = "Source port (default 40000; none for icmp).")
  int sport;

  @Option(
      names = "--dst",
      paramLabel = "IP:PORT",
      description = "The packet's destination (just the IP for icmp).")
  String dst;

  @Option(
      names = "--proto",
      defaultValue = "tcp",
      paramLabel = "PROTO",
      description = "tcp, udp, sctp or icmp (default tcp).")
  String proto;

  @Option(
      names = "--in-iface",
      paramLabel = "NAME",
      description =
          "With --src: the interface it arrives on (default: the one the node routes --src"
              + " through).")
  String inIface;

  /** For a command that needs a packet: it, validated; picocli's usage error without --dst. */
  PacketSpec required(CommandLine cl) {
    if (dst == null) {
      OptionSpec o = cl.getCommandSpec().findOption("--dst");
      // picocli's own words for a missing required option, as when --dst was declared required.
      throw new CommandLine.MissingParameterException(
          cl, o, "Missing required option: '" + o.longestName() + "=" + o.paramLabel() + "'");
    }
    return PacketFlags.parse(src, sport, dst, proto, inIface);
  }

  /** For a command where the packet is optional: empty without --dst (then --src is an error). */
  Optional<PacketSpec> optional() {
    if (dst == null) {
      if (src != null) {
        throw new IllegalArgumentException("--src: only with --dst");
      }
      if (inIface != null) {
        throw new IllegalArgumentException("--in-iface: only with --src and --dst");
      }
      return Optional.empty();
    }
    return Optional.of(PacketFlags.parse(src, sport, dst, proto, inIface));
  }
}
