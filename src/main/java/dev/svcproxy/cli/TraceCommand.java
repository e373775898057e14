package dev.svcproxy.cli;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceFormatter;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import dev.svcproxy.trace.html.RuleSources;
import dev.svcproxy.trace.html.TracePage;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Explains what a node does to one packet. */
@Command(
    name = "trace",
    mixinStandardHelpOptions = true,
    description = {
      "Walk a packet through a node's routing, conntrack and netfilter rules and print what happens.",
      "Exit 0 when every outcome is delivered, 1 when any is dropped or rejected, 2 on bad input."
    })
final class TraceCommand implements Callable<Integer> {
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
      names = "--src",
      paramLabel = "IP",
      description = "Source address (default: created on the node).")
  String src;

  @Option(
      names = "--sport",
      paramLabel = "N",
      defaultValue = "0",
      description = "Source port (default 40000).")
  int sport;

  @Option(names = "--dst", required = true, paramLabel = "IP:PORT", description = "Destination.")
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
      description = "Interface the packet arrives on.")
  String inIface;

  @Option(
      names = {"-o", "--format"},
      paramLabel = "FORMAT",
      defaultValue = "text",
      description = "text, json or html (a self-contained page drawing the path).")
  String output;

  @Override
  public Integer call() {
    PacketSpec packet = PacketFlags.parse(src, sport, dst, proto, inIface);
    if (!List.of("text", "json", "html").contains(output)) {
      throw new IllegalArgumentException("-o: expected text, json or html, got \"" + output + "\"");
    }
    if (netns != null && !source.live) {
      throw new IllegalArgumentException("--netns: only with --live");
    }
    NodeState node;
    RuleSources files;
    if (source.live) {
      CommandRunner runner = new ProcessCommandRunner();
      if (netns != null) {
        BundleCapture.requireNetns(runner, netns);
        runner = runner.inNetns(netns);
      }
      java.util.Map<String, String> captured = BundleCapture.capture(runner);
      node = BundleReader.fromFiles(captured);
      files = RuleSources.live(captured);
    } else {
      BundleReader.Bundle b = BundleReader.readBundle(source.bundle);
      node = b.node();
      files = RuleSources.bundle(b.files());
    }
    TraceResult traced = new Tracer(node).trace(packet);
    // What the bundle reader skipped or assumed comes first, then what the tracer assumed.
    java.util.Set<String> warnings = new java.util.LinkedHashSet<>(node.warnings());
    warnings.addAll(traced.warnings());
    TraceResult r = new TraceResult(traced.packet(), traced.outcomes(), List.copyOf(warnings));
    spec.commandLine()
        .getOut()
        .print(
            switch (output) {
              case "json" -> TraceFormatter.json(r);
              case "html" -> TracePage.page(r, files);
              default -> TraceFormatter.text(r);
            });
    spec.commandLine().getOut().flush();
    return r.allDelivered() ? 0 : 1;
  }
}
