package dev.svcproxy.cli;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;

/** Network-namespace labs. */
@Command(
    name = "lab",
    mixinStandardHelpOptions = true,
    description = "Build a throw-away cluster of network namespaces and show svcproxy at work.",
    subcommands = {
      LabCommand.Demo.class,
      LabCommand.Differential.class,
      LabCommand.BenchResync.class
    })
final class LabCommand implements Runnable {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new picocli.CommandLine.ParameterException(
        spec.commandLine(), "a lab subcommand is required (demo)");
  }

  /** Measures full-resync cost on this kernel; prints figures, asserts nothing. */
  @Command(
      name = "bench-resync",
      mixinStandardHelpOptions = true,
      description = "Time a full resync of N services in a one-node lab: naive versus svcproxy's.")
  static final class BenchResync implements Callable<Integer> {
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @picocli.CommandLine.Option(names = "--services", defaultValue = "1000")
    int services;

    @picocli.CommandLine.Option(names = "--endpoints", defaultValue = "10")
    int endpoints;

    @picocli.CommandLine.Option(
        names = "--partial-rounds",
        defaultValue = "0",
        description = "Instead, time this many partial syncs of one changed endpoint.")
    int partialRounds;

    @picocli.CommandLine.Option(
        names = "--batch-sizes",
        split = ",",
        description = "Instead, time loading in batches of these many services per restore.")
    List<Integer> batchSizes;

    @picocli.CommandLine.Option(names = "--backend", defaultValue = "iptables")
    String backend;

    @picocli.CommandLine.Option(
        names = "--proxier",
        description = "Instead, time svcproxy's full sync into an empty kernel and a restart.")
    boolean proxier;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      if (proxier) {
        dev.svcproxy.bench.ResyncBenchmark.runProxier(
            new ProcessCommandRunner(), backend, services, endpoints, Lines.to(out));
        return 0;
      }
      if (batchSizes != null) {
        dev.svcproxy.bench.ResyncBenchmark.runKnee(
            new ProcessCommandRunner(), backend, services, endpoints, batchSizes, Lines.to(out));
        return 0;
      }
      if (partialRounds > 0) {
        dev.svcproxy.bench.ResyncBenchmark.runPartial(
            new ProcessCommandRunner(), services, endpoints, partialRounds, Lines.to(out));
        return 0;
      }
      dev.svcproxy.bench.ResyncBenchmark.run(
          new ProcessCommandRunner(), services, endpoints, Lines.to(out));
      return 0;
    }
  }

  /** Runs the tracer-versus-kernel comparison and prints the agreement ratio. */
  @Command(
      name = "differential",
      mixinStandardHelpOptions = true,
      description =
          "Send real connections in a two-node lab and compare each with its trace; print the agreement.")
  static final class Differential implements Callable<Integer> {
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @picocli.CommandLine.Option(
        names = "--rounds",
        defaultValue = "2",
        description =
            "Rounds of every case (each on fresh bundles; odd rounds drop web-b from web).")
    int rounds;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      int total = 0;
      int agree = 0;
      try (DemoCluster c = DemoCluster.start(new ProcessCommandRunner())) {
        dev.svcproxy.lab.Differential d = new dev.svcproxy.lab.Differential(c);
        d.installThirdPartyRules();
        for (int round = 0; round < rounds; round++) {
          c.writeManifest("endpoints.yaml", c.endpointSlices(round % 2 == 0));
          if (round > 0) {
            c.proxy(1).awaitLog("sync", round + 1, java.time.Duration.ofSeconds(10));
            try {
              Thread.sleep(1500);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }
          var results = d.run(d.cases(), d.bundles(), Lines.to(out));
          total += results.size();
          agree +=
              (int) results.stream().filter(dev.svcproxy.lab.Differential.Result::agree).count();
          out.printf("round %d: %d cases%n", round + 1, results.size());
          out.flush();
        }
      }
      out.printf(
          "agreement: %d of %d (%.1f%%)%n", agree, total, total == 0 ? 0.0 : 100.0 * agree / total);
      return agree == total ? 0 : 1;
    }
  }

  /** The two-node demo. */
  @Command(
      name = "demo",
      mixinStandardHelpOptions = true,
      description =
          "Build a two-node lab, run svcproxy on each node, show what a few connections do, tear it down.")
  static final class Demo implements Callable<Integer> {
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @picocli.CommandLine.Option(
        names = "--bundles",
        paramLabel = "DIR",
        description =
            "Capture each node's bundle into DIR/<node> before tearing down, for svcproxy trace.")
    java.nio.file.Path bundles;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      if (!"0".equals(new ProcessCommandRunner().run("id", "-u").stdout().strip())) {
        throw new IllegalArgumentException("lab demo needs root (it creates network namespaces)");
      }
      out.println("building a two-node lab (network namespaces, veth, bridges)...");
      out.flush();
      try (DemoCluster c = DemoCluster.start(new ProcessCommandRunner())) {
        Lab lab = c.lab();
        Lab.Node n1 = lab.node("node1");
        Lab.Node n2 = lab.node("node2");
        Lab.Pod client = lab.pod("client");
        Lab.Client ext = lab.client("ext");
        out.printf(
            "lab %s: node1 %s (pods %s), node2 %s (pods %s), external client %s%n",
            lab.prefix(), n1.ip(), n1.podCidr(), n2.ip(), n2.podCidr(), ext.ip());
        out.println("svcproxy run is programming iptables in both nodes; connections:");
        show(
            out,
            "pod client (" + client.ip() + ") -> ClusterIP web " + DemoCluster.WEB + ":80",
            lab.connect(client.netns(), DemoCluster.WEB, 80));
        show(
            out,
            "pod client -> ClusterIP web again",
            lab.connect(client.netns(), DemoCluster.WEB, 80));
        show(
            out,
            "external "
                + ext.ip()
                + " -> node1 NodePort "
                + DemoCluster.WEB_NODEPORT
                + " (eTP Cluster)",
            lab.connect(ext.netns(), n1.ip(), DemoCluster.WEB_NODEPORT));
        show(
            out,
            "external -> node2 NodePort "
                + DemoCluster.WEB_LOCAL_NODEPORT
                + " (eTP Local, endpoint on node2)",
            lab.connect(ext.netns(), n2.ip(), DemoCluster.WEB_LOCAL_NODEPORT));
        show(
            out,
            "external -> node1 NodePort "
                + DemoCluster.WEB_LOCAL_NODEPORT
                + " (eTP Local, no endpoint on node1)",
            lab.connect(ext.netns(), n1.ip(), DemoCluster.WEB_LOCAL_NODEPORT));
        show(
            out,
            "pod client -> ClusterIP empty " + DemoCluster.EMPTY + ":80 (no endpoints)",
            lab.connect(client.netns(), DemoCluster.EMPTY, 80));
        show(
            out,
            "pod web-a -> its own Service self " + DemoCluster.SELF + ":80 (hairpin)",
            lab.connect(lab.pod("web-a").netns(), DemoCluster.SELF, 80));
        if (bundles != null) {
          for (Lab.Node n : lab.nodes()) {
            dev.svcproxy.trace.bundle.BundleCapture.captureTo(
                lab.runner().inNetns(n.netns()), bundles.resolve(n.name()));
          }
          out.println(
              "bundles of node1 and node2 written to "
                  + bundles
                  + " (try: ./svcproxy trace --bundle "
                  + bundles.resolve("node1")
                  + " --src "
                  + ext.ip()
                  + " --dst "
                  + n1.ip()
                  + ":"
                  + DemoCluster.WEB_LOCAL_NODEPORT
                  + ")");
        }
        out.println("tearing the lab down");
      }
      return 0;
    }

    private static void show(PrintWriter out, String what, Connection c) {
      out.printf("  %-78s %s%n", what, c);
      out.flush();
    }
  }
}
