package dev.svcproxy.bench;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import java.time.Duration;
import java.util.List;

/**
 * What {@link SyncBenchmark} needs to know of one proxy mode's kernel state in the lab node: how to
 * empty it, load a render into it (the floors), and read back what the run process wrote.
 */
interface BenchKernel {
  /** The proxy mode run and render are given ("iptables", "nftables"). */
  String mode();

  /** The tool and its version, as the report's first line shows it. */
  String version();

  /** Anything the kernel needs before a render can be loaded as is (iptables: nfacct counters). */
  void prepare(String render);

  /** Removes what the mode holds, so the next load starts from an empty kernel. */
  void empty();

  /** Milliseconds one load of {@code input} took, or -1 when it ran out of {@code timeout}. */
  long load(String input, Duration timeout);

  /** The render cut into loads of about {@code perBatch} services each, in an order that works. */
  List<String> batches(String render, int perBatch);

  /**
   * Whether reading the kernel back costs more than the change being timed (nft 1.0.6 at 10k
   * Services: seconds per listing); then changes are timed to the run's log line of the sync that
   * made them and the kernel is read afterwards to check.
   */
  default boolean slowToRead() {
    return false;
  }

  /** Service chains and endpoint chains the kernel holds. */
  int[] chainCounts();

  /** The chain the kernel sends {@code clusterIp}:80/TCP to. */
  String serviceChain(String clusterIp);

  /** Endpoints one service chain chooses among, as the kernel holds it (-1: no such chain). */
  int endpoints(String serviceChain);

  /** One service's own chains as the kernel holds them, as an input {@link #load} takes. */
  String serviceInput(String serviceChain);

  /** Names for the report: the single load, the batched one, the one-service floor. */
  String loadName();

  String batchName();

  String serviceInputName();

  /** The prefixes of service and endpoint chains, for the report ("KUBE-SVC", "KUBE-SEP"). */
  List<String> chainKinds();

  /** Milliseconds {@code argv} took on {@code input}, -1 when it ran out of {@code timeout}. */
  static long timed(CommandRunner ns, List<String> argv, String input, Duration timeout) {
    long t0 = System.nanoTime();
    CommandResult r = ns.run(argv, input, timeout);
    long took = (System.nanoTime() - t0) / 1_000_000;
    if (r.exitCode() == 124) {
      return -1;
    }
    r.orThrow();
    return took;
  }
}
