package dev.svcproxy.cli;

import dev.svcproxy.bench.DataplaneBenchmark;
import dev.svcproxy.bench.ManifestWatchBenchmark;
import dev.svcproxy.bench.SyncBenchmark;
import dev.svcproxy.bench.TraceBenchmark;
import dev.svcproxy.kernel.ProcessCommandRunner;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Benchmarks that print figures; none passes or fails. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = "Print performance figures.",
    subcommands = {
      BenchCommand.Trace.class,
      BenchCommand.Manifests.class,
      BenchCommand.Sync.class,
      BenchCommand.Dataplane.class
    })
final class BenchCommand implements Runnable {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new picocli.CommandLine.ParameterException(
        spec.commandLine(), "a bench subcommand is required (trace, manifests, sync, dataplane)");
  }

  /** Parse and trace time of a large iptables-save. */
  @Command(
      name = "trace",
      mixinStandardHelpOptions = true,
      description = "Time parsing and tracing a large iptables-save (default ~100k rules).")
  static final class Trace implements Callable<Integer> {
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--services", defaultValue = "3200")
    int services;

    @Option(names = "--endpoints", defaultValue = "10")
    int endpoints;

    @Option(names = "--iterations", defaultValue = "10")
    int iterations;

    @Option(
        names = "--statistic-chain",
        defaultValue = "0",
        description = "instead, time a trace through N chained 50% statistic rules (2^N paths)")
    int statisticChain;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      if (statisticChain > 0) {
        TraceBenchmark.statisticChain(statisticChain, Math.max(1, iterations), Lines.to(out));
        return 0;
      }
      TraceBenchmark.run(services, endpoints, Math.max(1, iterations), Lines.to(out));
      return 0;
    }
  }

  /** Time from a manifest file write to the new state, and the source's idle CPU. */
  @Command(
      name = "manifests",
      mixinStandardHelpOptions = true,
      description =
          "Time from a manifest file write to the new state, and idle CPU of the watcher.")
  static final class Manifests implements Callable<Integer> {
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--services", defaultValue = "10000")
    int services;

    @Option(names = "--endpoints", defaultValue = "10")
    int endpoints;

    @Option(
        names = "--files",
        defaultValue = "100",
        description = "files the services are split into")
    int files;

    @Option(names = "--changes", defaultValue = "10")
    int changes;

    @Option(names = "--idle-seconds", defaultValue = "30")
    int idleSeconds;

    @Override
    public Integer call() {
      ManifestWatchBenchmark.run(
          Math.max(1, services),
          Math.max(1, endpoints),
          Math.max(1, Math.min(files, services)),
          Math.max(1, changes),
          Math.max(0, idleSeconds),
          Lines.to(spec.commandLine().getOut()));
      return 0;
    }
  }

  /** The real run process in a lab node, each figure beside the bare-kernel floor. */
  @Command(
      name = "sync",
      mixinStandardHelpOptions = true,
      description = {
        "Run `svcproxy run` in a throw-away network namespace on N ClusterIP services x M"
            + " endpoints and print first sync, restart, endpoint change, idle CPU and RSS,"
            + " each beside the bare iptables-restore floor measured in the same run.",
        "Needs root; the run process gets this JVM's flags (the launcher's)."
      })
  static final class Sync implements Callable<Integer> {
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--services", defaultValue = "1000", paramLabel = "N")
    int services;

    @Option(names = "--endpoints", defaultValue = "10", paramLabel = "M")
    int endpoints;

    @Option(
        names = "--backend",
        defaultValue = "nft",
        paramLabel = "nft|legacy",
        description = "iptables-nft or iptables-legacy, for run and the floors alike")
    String backend;

    @Option(
        names = "--mode",
        defaultValue = "iptables",
        paramLabel = "iptables|nftables",
        description = "proxy mode run programs (--backend applies to iptables mode only)")
    String mode;

    @Option(names = "--rounds", defaultValue = "5", description = "endpoint add/remove rounds")
    int rounds;

    @Option(
        names = "--idle-seconds",
        defaultValue = "130",
        description =
            "idle window for CPU and steady RSS; the default covers the launcher's periodic GC"
                + " (checked once a minute, run after a minute without GC)")
    int idleSeconds;

    @Option(
        names = "--skip-floors",
        description = "measure svcproxy only (e.g. memory at 30k services)")
    boolean skipFloors;

    @Option(
        names = "--batch",
        defaultValue = "100",
        description = "services per restore in the batched floor")
    int batch;

    @Option(
        names = "--floor-timeout",
        defaultValue = "5m",
        paramLabel = "DURATION",
        description = "give up on one floor restore after this long (reported as timed out)")
    String floorTimeout;

    @Option(
        names = "--sync-timeout",
        defaultValue = "20m",
        paramLabel = "DURATION",
        description = "give up waiting for run to sync after this long")
    String syncTimeout;

    @Override
    public Integer call() {
      SyncBenchmark.Options opt;
      try {
        if (!mode.equals("iptables") && !mode.equals("nftables")) {
          throw new IllegalArgumentException("--mode must be iptables or nftables, got " + mode);
        }
        SyncBenchmark.Backend b =
            switch (backend) {
              case "nft" -> SyncBenchmark.Backend.NFT;
              case "legacy" -> SyncBenchmark.Backend.LEGACY;
              default ->
                  throw new IllegalArgumentException(
                      "--backend must be nft or legacy, got " + backend);
            };
        if (mode.equals("nftables")) {
          b = SyncBenchmark.Backend.NFTABLES;
        }
        opt =
            new SyncBenchmark.Options(
                services,
                endpoints,
                b,
                rounds,
                idleSeconds,
                batch,
                !skipFloors,
                positive(Durations.parse(floorTimeout, "--floor-timeout"), "--floor-timeout"),
                positive(Durations.parse(syncTimeout, "--sync-timeout"), "--sync-timeout"));
      } catch (IllegalArgumentException e) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage());
      }
      PrintWriter err = spec.commandLine().getErr();
      SyncBenchmark.Report r =
          SyncBenchmark.run(
              new ProcessCommandRunner(),
              opt,
              s -> {
                err.println("bench sync: " + s);
                err.flush();
              });
      SyncBenchmark.print(r, Lines.to(spec.commandLine().getOut()));
      return 0;
    }

    private static java.time.Duration positive(java.time.Duration d, String flag) {
      if (d.isZero() || d.isNegative()) {
        throw new IllegalArgumentException(flag + " must be positive");
      }
      return d;
    }
  }

  /** Connection set-up through a Service VIP at 1 and N Services, per mode. */
  @Command(
      name = "dataplane",
      mixinStandardHelpOptions = true,
      description = {
        "Run `svcproxy run` in a throw-away one-node lab per mode and size, then time TCP connects"
            + " from a pod to a Service's VIP and, as the floor, straight to its backend pod.",
        "The measured Service is the last one in iptables' KUBE-SERVICES. Needs root."
      })
  static final class Dataplane implements Callable<Integer> {
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @Option(
        names = "--services",
        defaultValue = "1,10000",
        split = ",",
        paramLabel = "N[,N...]",
        description = "Service counts to measure (default: 1 and 10000)")
    java.util.List<Integer> services;

    @Option(names = "--endpoints", defaultValue = "10", paramLabel = "M")
    int endpoints;

    @Option(
        names = "--modes",
        defaultValue = "iptables,nftables",
        split = ",",
        paramLabel = "MODE[,MODE...]")
    java.util.List<String> modes;

    @Option(names = "--connections", defaultValue = "3000", description = "timed connects")
    int connections;

    @Option(names = "--warmup", defaultValue = "300", description = "untimed connects first")
    int warmup;

    @Option(
        names = "--sync-timeout",
        defaultValue = "10m",
        paramLabel = "DURATION",
        description = "give up waiting for run to sync after this long")
    String syncTimeout;

    @Override
    public Integer call() throws java.io.IOException {
      DataplaneBenchmark.Options opt;
      try {
        for (String m : modes) {
          if (!ProxyOptions.MODES.contains(m)) {
            throw new IllegalArgumentException("--modes: unknown mode " + m);
          }
        }
        opt =
            new DataplaneBenchmark.Options(
                modes,
                services,
                endpoints,
                connections,
                warmup,
                Sync.positive(Durations.parse(syncTimeout, "--sync-timeout"), "--sync-timeout"));
      } catch (IllegalArgumentException e) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage());
      }
      PrintWriter err = spec.commandLine().getErr();
      java.util.List<DataplaneBenchmark.Figure> figures =
          DataplaneBenchmark.run(
              new ProcessCommandRunner(),
              opt,
              s -> {
                err.println("bench dataplane: " + s);
                err.flush();
              });
      DataplaneBenchmark.print(figures, Lines.to(spec.commandLine().getOut()));
      return 0;
    }
  }
}
