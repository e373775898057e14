package dev.svcproxy.sync.nftables;

import dev.svcproxy.bench.ResyncBenchmark;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.NftKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Prints what syncs of N services x 10 endpoints cost against the kernel in a lab namespace (not a
 * test): one plain transaction, the proxier's batched first sync, a full resync over an unchanged
 * table, and one-endpoint partial syncs.
 */
final class NftSyncProfile {
  private NftSyncProfile() {}

  public static void main(String[] args) {
    int n = Integer.parseInt(args[0]);
    boolean plain = args.length < 2 || !args[1].equals("noplain");
    ProxyState s = ResyncBenchmark.services(n, 10);
    HandRuleset render = new HandRuleset();
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 1)) {
      CommandRunner node = lab.runner().inNetns(lab.node("node1").netns());
      NftKernel kernel = new NftKernel(node);
      if (plain) {
        String load = NftablesProxier.fullLoad(render.render(s));
        long t0 = System.nanoTime();
        kernel.apply(load).orThrow();
        System.out.printf(
            "plain: one nft -f of %d lines: %.1f s%n",
            load.lines().count(), (System.nanoTime() - t0) / 1e9);
        kernel.deleteTable("ip", "kube-proxy");
      }
      NftablesProxier p = new NftablesProxier(kernel, render);
      long t0 = System.nanoTime();
      NftSyncResult r = p.sync(s, true, Set.of());
      System.out.printf(
          "proxier first sync: %d transactions: %.1f s%n",
          r.transactions().size(), (System.nanoTime() - t0) / 1e9);
      NftablesProxier restarted = new NftablesProxier(kernel, new HandRuleset());
      t0 = System.nanoTime();
      r = restarted.sync(s, true, Set.of());
      System.out.printf(
          "full resync over the unchanged table (new proxier): %.1f s, sent %d lines%n",
          (System.nanoTime() - t0) / 1e9, r.switchTransaction().lines().count());
      ServicePortName victim = s.services().firstKey();
      for (int i = 0; i < 5; i++) {
        Map<ServicePortName, List<Endpoint>> eps = new HashMap<>(s.endpoints());
        List<Endpoint> list = new ArrayList<>(s.endpointsOf(victim));
        list.set(0, Endpoint.ready("10.99.0." + (i + 1), 8080, "n"));
        eps.put(victim, list);
        s = new ProxyState(new TreeMap<>(s.services()), eps);
        t0 = System.nanoTime();
        r = restarted.sync(s, false, Set.of(victim.namespacedName()));
        System.out.printf(
            "one endpoint changed: partial sync %.1f ms, %d lines%n",
            (System.nanoTime() - t0) / 1e6, r.switchTransaction().lines().count());
      }
    }
  }
}
