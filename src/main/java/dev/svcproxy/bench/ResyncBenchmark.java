package dev.svcproxy.bench;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.model.TrafficPolicy;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.render.iptables.IptablesConfig;
import dev.svcproxy.render.iptables.IptablesRenderer;
import dev.svcproxy.sync.UnchangedChains;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Measures what a full resync costs on this kernel: loading N services into empty tables, a naive
 * resync that re-declares every chain, and svcproxy's resync that skips unchanged chains.
 */
public final class ResyncBenchmark {
  private ResyncBenchmark() {}

  /** N ClusterIP services with E endpoints each. */
  public static ProxyState services(int n, int e) {
    TreeMap<ServicePortName, ServicePortInfo> svcs = new TreeMap<>();
    Map<ServicePortName, List<Endpoint>> eps = new HashMap<>();
    for (int i = 0; i < n; i++) {
      ServicePortName name = new ServicePortName("bench", "svc" + i, "http", Protocol.TCP);
      String ip = "10.96." + (i / 250) + "." + (i % 250 + 1);
      svcs.put(
          name,
          new ServicePortInfo(
              name,
              ip,
              80,
              0,
              List.of(),
              List.of(),
              List.of(),
              0,
              false,
              0,
              TrafficPolicy.CLUSTER,
              TrafficPolicy.CLUSTER));
      List<Endpoint> list = new ArrayList<>();
      for (int j = 0; j < e; j++) {
        list.add(
            Endpoint.ready("10." + (100 + i / 250) + "." + (i % 250) + "." + (j + 1), 8080, "n"));
      }
      eps.put(name, list);
    }
    return new ProxyState(svcs, eps);
  }

  /** Runs the measurement in a throw-away one-node lab and reports each figure to {@code out}. */
  public static void run(CommandRunner root, int n, int e, Consumer<String> out) {
    try (Lab lab = Lab.create(root, 1)) {
      CommandRunner node = root.inNetns(lab.node("node1").netns());
      IptablesKernel kernel = new IptablesKernel(node);
      IptablesConfig cfg =
          IptablesConfig.defaults(
              "n",
              "192.168.77.11",
              new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.244.0.0/16"));
      ProxyState state = services(n, e);
      long t0 = System.nanoTime();
      Ruleset full = new IptablesRenderer(cfg).render(state).restoreInput();
      long renderMs = (System.nanoTime() - t0) / 1_000_000;
      out.accept(String.format("render of %d services x %d endpoints: %d ms", n, e, renderMs));
      out.accept(String.format("load into empty tables: %d ms", timeRestore(kernel, full.print())));
      t0 = System.nanoTime();
      Table kernelNat = kernel.save("nat").table("nat").orElseThrow();
      Ruleset minimal = UnchangedChains.drop(full, kernelNat);
      long diffMs = (System.nanoTime() - t0) / 1_000_000;
      out.accept(
          String.format(
              "svcproxy full resync (iptables-save + diff %d ms): %d ms",
              diffMs, diffMs + timeRestore(kernel, minimal.print())));
      out.accept(
          String.format(
              "naive full resync (every chain re-declared): %d ms",
              timeRestore(kernel, full.print())));
    }
  }

  private static long timeRestore(IptablesKernel kernel, String input) {
    long t0 = System.nanoTime();
    CommandResult r = kernel.restore(input);
    r.orThrow();
    return (System.nanoTime() - t0) / 1_000_000;
  }
}
