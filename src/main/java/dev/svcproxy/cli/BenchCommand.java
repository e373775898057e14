package dev.svcproxy.cli;

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
    subcommands = {BenchCommand.Trace.class})
final class BenchCommand implements Runnable {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new picocli.CommandLine.ParameterException(
        spec.commandLine(), "a bench subcommand is required (trace)");
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
}
