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
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Explains what a node does to one packet. */
@Command(
    name = "trace",
    mixinStandardHelpOptions = true,
    // Written out because --dst is required here but optional in the shared PacketOptions.
    customSynopsis = {
      "svcproxy trace (--bundle=DIR | --live [--netns=NAME]) --dst=IP:PORT",
      "               [--src=IP] [--sport=PORT] [--proto=PROTO] [--in-iface=NAME]",
      "               [-o=FORMAT] [-hV] [--debug]"
    },
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

  @Mixin PacketOptions packet;

  @Mixin FormatOption format;

  @Override
  public Integer call() {
    PacketSpec packet = this.packet.required(spec.commandLine());
    String output = format.format();
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
