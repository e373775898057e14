package dev.svcproxy.cli;

import dev.svcproxy.bench.ManifestWatchBenchmark;
import dev.svcproxy.bench.TraceBenchmark;
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
    subcommands = {BenchCommand.Trace.class, BenchCommand.Manifests.class})
final class BenchCommand implements Runnable {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new picocli.CommandLine.ParameterException(
        spec.commandLine(), "a bench subcommand is required (trace, manifests)");
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
}
