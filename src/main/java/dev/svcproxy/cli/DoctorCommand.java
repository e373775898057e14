package dev.svcproxy.cli;

import dev.svcproxy.doctor.Doctor;
import dev.svcproxy.doctor.DoctorFormatter;
import dev.svcproxy.doctor.DoctorHtml;
import dev.svcproxy.doctor.DoctorInput;
import dev.svcproxy.doctor.DoctorInputs;
import dev.svcproxy.doctor.DoctorReport;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.model.Ip;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Names what is wrong with a node's Service data plane, with the evidence and the fix. */
@Command(
    name = "doctor",
    mixinStandardHelpOptions = true,
    description = {
      "Check a node's Service data plane (from a bundle or the live node) and name what is wrong,"
          + " with the evidence, why it breaks traffic and the fix. With --dst, also trace that"
          + " packet and explain its outcome.",
      "Exit 0 when nothing is found, 1 with findings, 2 on bad input."
    })
final class DoctorCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Source source;

  static final class Source {
    @Option(names = "--bundle", paramLabel = "DIR", description = "A captured node bundle.")
    Path bundle;

    @Option(names = "--live", description = "Read the live node (root).")
    boolean live;
  }

  @Option(
      names = "--netns",
      paramLabel = "NAME",
      description = "With --live: read this network namespace.")
  String netns;

  @Option(
      names = "--manifests",
      paramLabel = "PATH",
      description =
          "The cluster's Services and EndpointSlices (a file or directory of manifests, or"
              + " `kubectl get svc,endpointslices -A -o json` output); default: the bundle's"
              + " cluster.json.")
  Path manifests;

  @Option(
      names = "--src",
      paramLabel = "IP",
      description = "With --dst: source address (default: the node itself).")
  String src;

  @Option(
      names = "--sport",
      defaultValue = "40000",
      paramLabel = "PORT",
      description = "With --dst: source port (default 40000).")
  int sport;

  @Option(names = "--dst", paramLabel = "IP:PORT", description = "A packet to trace and explain.")
  String dst;

  @Option(
      names = "--proto",
      defaultValue = "tcp",
      paramLabel = "PROTO",
      description = "tcp, udp, sctp or icmp.")
  String proto;

  @Option(
      names = "--in-iface",
      paramLabel = "NAME",
      description = "With --src: the interface it arrives on.")
  String inIface;

  @Option(
      names = {"-o", "--format"},
      paramLabel = "FORMAT",
      defaultValue = "text",
      description = "text, json or html (a self-contained page; with --dst it draws the path).")
  String output;

  @Override
  public Integer call() {
    if (!List.of("text", "json", "html").contains(output)) {
      throw new IllegalArgumentException("-o: expected text, json or html, got \"" + output + "\"");
    }
    if (netns != null && !source.live) {
      throw new IllegalArgumentException("--netns: only with --live");
    }
    PacketSpec packet = packet();
    Optional<Path> objects = Optional.ofNullable(manifests);
    DoctorInput in;
    if (source.live) {
      CommandRunner runner = new ProcessCommandRunner();
      if (netns != null) {
        BundleCapture.requireNetns(runner, netns);
        runner = runner.inNetns(netns);
      }
      in = DoctorInputs.live(runner, objects);
    } else {
      in = DoctorInputs.bundle(source.bundle, objects);
    }
    DoctorReport r = Doctor.standard().examine(in.withPacket(packet));
    spec.commandLine()
        .getOut()
        .print(
            output.equals("html")
                ? DoctorHtml.page(r, in.files())
                : output.equals("json") ? DoctorFormatter.json(r) : DoctorFormatter.text(r));
    spec.commandLine().getOut().flush();
    return r.findings().isEmpty() ? ExitCodes.OK : ExitCodes.FINDING;
  }

  /** The packet of --src/--dst/--proto, validated as trace validates it; null without --dst. */
  private PacketSpec packet() {
    if (dst == null) {
      if (src != null) {
        throw new IllegalArgumentException("--src: only with --dst");
      }
      return null;
    }
    String p = proto.toLowerCase(Locale.ROOT);
    if (!List.of("tcp", "udp", "sctp", "icmp").contains(p)) {
      throw new IllegalArgumentException(
          "--proto: unknown protocol \"" + proto + "\" (tcp, udp, sctp, icmp)");
    }
    int colon = dst.lastIndexOf(':');
    String ip = colon < 0 ? dst : dst.substring(0, colon);
    int port;
    try {
      port = colon < 0 ? 0 : Integer.parseInt(dst.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--dst: invalid port in \"" + dst + "\"");
    }
    if (!Ip.isIpv4(ip) || port < 0 || port > 65535 || (colon < 0 && !p.equals("icmp"))) {
      throw new IllegalArgumentException("--dst: expected IPv4:PORT, got \"" + dst + "\"");
    }
    if (src != null && !Ip.isIpv4(src)) {
      throw new IllegalArgumentException("--src: invalid IPv4 address \"" + src + "\"");
    }
    return new PacketSpec(src, sport, ip, port, p, inIface);
  }
}
