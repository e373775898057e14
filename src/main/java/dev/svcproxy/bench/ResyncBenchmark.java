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
import dev.svcproxy.render.iptables.RenderOptions;
import dev.svcproxy.sync.IptablesProxier;
import dev.svcproxy.sync.UnchangedChains;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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

  /**
   * Times partial syncs through the proxier (one endpoint of one service changed) over N services
   * already in the kernel. The services are loaded 100 per restore first, because one transaction
   * of a large ruleset is very slow on iptables-nft; then a full sync over that unchanged kernel.
   */
  public static void runPartial(
      CommandRunner root, int n, int e, int rounds, Consumer<String> out) {
    try (Lab lab = Lab.create(root, 1)) {
      CommandRunner node = root.inNetns(lab.node("node1").netns());
      IptablesKernel kernel = new IptablesKernel(node);
      IptablesConfig cfg =
          IptablesConfig.defaults(
              "n",
              "192.168.77.11",
              new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.244.0.0/16"));
      ProxyState state = services(n, e);
      List<ServicePortName> names = new ArrayList<>(state.services().keySet());
      long t0 = System.nanoTime();
      for (int i = 0; i < names.size(); i += 100) {
        TreeMap<ServicePortName, ServicePortInfo> part = new TreeMap<>();
        Map<ServicePortName, List<Endpoint>> eps = new HashMap<>();
        for (ServicePortName spn : names.subList(i, Math.min(names.size(), i + 100))) {
          part.put(spn, state.services().get(spn));
          eps.put(spn, state.endpointsOf(spn));
        }
        String text =
            new IptablesRenderer(cfg)
                .render(new ProxyState(part, eps), new RenderOptions(true, Set.of(), null))
                .text();
        kernel.restore(text).orThrow();
      }
      out.accept(
          String.format(
              "setup: %d services x %d endpoints loaded 100 per restore: %d ms",
              n, e, (System.nanoTime() - t0) / 1_000_000));
      IptablesProxier proxier = new IptablesProxier(kernel, cfg);
      proxier.probe();
      t0 = System.nanoTime();
      proxier.sync(state, true, Set.of());
      out.accept(
          String.format(
              "full sync over the unchanged kernel: %d ms", (System.nanoTime() - t0) / 1_000_000));
      ServicePortName victim = names.get(names.size() / 2);
      for (int r = 0; r < rounds; r++) {
        Map<ServicePortName, List<Endpoint>> eps = new HashMap<>(state.endpoints());
        List<Endpoint> list = new ArrayList<>(state.endpointsOf(victim));
        list.set(0, Endpoint.ready("10.99." + (r / 250) + "." + (r % 250 + 1), 8080, "n"));
        eps.put(victim, list);
        state = new ProxyState(new TreeMap<>(state.services()), eps);
        t0 = System.nanoTime();
        proxier.sync(state, false, Set.of(victim.namespacedName()));
        out.accept(
            String.format(
                "partial sync (one endpoint of one service changed), round %d: %d ms",
                r + 1, (System.nanoTime() - t0) / 1_000_000));
      }
    }
  }

  private static long timeRestore(IptablesKernel kernel, String input) {
    long t0 = System.nanoTime();
    CommandResult r = kernel.restore(input);
    r.orThrow();
    return (System.nanoTime() - t0) / 1_000_000;
  }
}
