package dev.svcproxy.bench;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.model.TrafficPolicy;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.render.iptables.ChainNames;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.render.iptables.IptablesRenderer;
import dev.svcproxy.render.iptables.RenderOptions;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.sync.iptables.IptablesSyncResult;
import dev.svcproxy.sync.iptables.UnchangedChains;
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

  /** The node every benchmark here renders for: one node IP, the lab's pod CIDR. */
  static ProxyConfig benchConfig() {
    return ProxyConfig.defaults(
        "n",
        "192.168.77.11",
        new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.244.0.0/16"));
  }

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
      ProxyConfig cfg = benchConfig();
      ProxyState state = services(n, e);
      long t0 = System.nanoTime();
      Ruleset full =
          new IptablesRenderer(cfg, IptablesOptions.defaults(), KernelCapabilities.none())
              .render(state)
              .restoreInput();
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
      ProxyConfig cfg = benchConfig();
      ProxyState state = services(n, e);
      List<ServicePortName> names = new ArrayList<>(state.services().keySet());
      long t0 = System.nanoTime();
      for (String text : serviceBatches(cfg, state, 100)) {
        kernel.restore(text).orThrow();
      }
      out.accept(
          String.format(
              "setup: %d services x %d endpoints loaded 100 per restore: %d ms",
              n, e, (System.nanoTime() - t0) / 1_000_000));
      IptablesProxier proxier = new IptablesProxier(kernel, cfg, IptablesOptions.defaults());
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
        Set<String> changed = Set.of(victim.namespacedName());
        t0 = System.nanoTime();
        IptablesSyncResult result = proxier.sync(state, false, changed);
        long syncMs = (System.nanoTime() - t0) / 1_000_000;
        Ruleset writtenRules = result.render().restoreInput();
        // What the sync wrote: its changed chains and the edits of the shared chains.
        String written = result.switchInput();
        t0 = System.nanoTime();
        new IptablesRenderer(cfg, IptablesOptions.defaults(), proxier.capabilities())
            .render(state, new RenderOptions(false, changed, Set.of()));
        long renderMs = (System.nanoTime() - t0) / 1_000_000;
        // For comparison, the same change with the shared chains rewritten whole (as partial syncs
        // did before); rewriting them with the rules they hold changes nothing, unlike the edits.
        String whole = writtenRules.print();
        long wholeMs = timeRestore(kernel, whole);
        // What the top-level chains cost: the changed service's own chains alone.
        List<Line> own = new ArrayList<>();
        for (Line l : writtenRules.table("nat").orElseThrow().lines()) {
          if (l instanceof Line.ChainDecl c && ChainNames.isServiceChain(c.name())
              || l instanceof Line.RuleLine rl && ChainNames.isServiceChain(rl.rule().chain())) {
            own.add(l);
          }
        }
        long ownMs = timeRestore(kernel, new Ruleset(List.of(new Table("nat", own))).print());
        out.accept(
            String.format(
                "partial sync (one endpoint of one service changed), round %d: %d ms"
                    + " (%d lines written; render alone %d ms; bare iptables-restore of the"
                    + " change with the shared chains rewritten whole, %d lines, %d ms; of the"
                    + " service's own %d chain lines alone %d ms)",
                r + 1,
                syncMs,
                written.lines().count(),
                renderMs,
                whole.lines().count(),
                wholeMs,
                own.size(),
                ownMs));
      }
    }
  }

  /**
   * Times svcproxy's own full syncs at N services on one backend: into an empty kernel (new chains
   * loaded in batches, then the switch), then a restart (a new proxier, so a full sync that reads
   * the kernel) over the unchanged ruleset.
   */
  public static void runProxier(
      CommandRunner root, String backend, int n, int e, Consumer<String> out) {
    ProxyConfig cfg = benchConfig();
    ProxyState state = services(n, e);
    try (Lab lab = Lab.create(root, 1)) {
      CommandRunner inner = root.inNetns(lab.node("node1").netns());
      List<String> slow = new ArrayList<>();
      long[] inCommands = {0};
      CommandRunner timed =
          new CommandRunner() {
            @Override
            public CommandResult run(List<String> argv, String stdin, java.time.Duration timeout) {
              long t = System.nanoTime();
              CommandResult r = inner.run(argv, stdin, timeout);
              long ms = (System.nanoTime() - t) / 1_000_000;
              inCommands[0] += ms;
              if (ms >= 100) {
                String what =
                    String.join(" ", argv.subList(0, Math.min(argv.size(), 10)))
                        .replace(" -w 5 -W 100000", "");
                long lines = stdin == null ? 0 : stdin.lines().count();
                slow.add(String.format("  %d ms: %s (%d lines in)", ms, what, lines));
              }
              return r;
            }

            @Override
            public dev.svcproxy.kernel.Spawned spawn(List<String> argv, java.nio.file.Path log) {
              return inner.spawn(argv, log);
            }
          };
      IptablesKernel kernel = new IptablesKernel(timed, backend);
      IptablesProxier proxier = new IptablesProxier(kernel, cfg, IptablesOptions.defaults());
      proxier.probe();
      long t0 = System.nanoTime();
      inCommands[0] = 0;
      IptablesSyncResult r = proxier.sync(state, true, Set.of());
      long ms = (System.nanoTime() - t0) / 1_000_000;
      out.accept(
          String.format(
              "%s: full sync of %d services x %d endpoints into an empty kernel: %d ms, of which"
                  + " %d ms in commands, %d ms Java (%s)",
              backend, n, e, ms, inCommands[0], ms - inCommands[0], r.summary()));
      slow.forEach(out);
      slow.clear();
      IptablesProxier restarted = new IptablesProxier(kernel, cfg, IptablesOptions.defaults());
      restarted.probe();
      t0 = System.nanoTime();
      inCommands[0] = 0;
      r = restarted.sync(state, true, Set.of());
      ms = (System.nanoTime() - t0) / 1_000_000;
      out.accept(
          String.format(
              "%s: restart, full sync over the unchanged ruleset: %d ms, of which %d ms in"
                  + " commands, %d ms Java (%s, switch of %d lines)",
              backend,
              ms,
              inCommands[0],
              ms - inCommands[0],
              r.summary(),
              r.switchInput().lines().count()));
      slow.forEach(out);
      // The floor: the same tool's bare save of each table in the same namespace.
      for (String table : List.of("nat", "filter")) {
        long s0 = System.nanoTime();
        String text = inner.run(List.of(backend + "-save", "-t", table)).orThrow().stdout();
        out.accept(
            String.format(
                "%s: bare %s-save -t %s: %d ms (%d lines)",
                backend,
                backend,
                table,
                (System.nanoTime() - s0) / 1_000_000,
                text.lines().count()));
      }
    }
  }

  /**
   * Times the Java side of svcproxy's syncs at N services without a kernel: a fake runner accepts
   * every restore and answers iptables-save with the nat table a kernel holding the full render
   * would print. Reports the full sync, partial syncs (one endpoint of one service changed) and a
   * {@code restarts} restarts (each a new proxier's full sync over that unchanged ruleset), each in
   * ms of sync code only.
   */
  public static void runInProcess(int n, int e, int rounds, int restarts, Consumer<String> out) {
    ProxyConfig cfg = benchConfig();
    ProxyState state = services(n, e);
    String[] saved = {"*nat\nCOMMIT\n"};
    CommandRunner fake =
        new CommandRunner() {
          @Override
          public CommandResult run(List<String> argv, String stdin, java.time.Duration timeout) {
            String out = argv.get(0).endsWith("-save") ? saved[0] : "";
            return new CommandResult(argv, 0, out, "");
          }

          @Override
          public dev.svcproxy.kernel.Spawned spawn(List<String> argv, java.nio.file.Path log) {
            throw new UnsupportedOperationException();
          }
        };
    IptablesKernel kernel = new IptablesKernel(fake, "iptables-nft");
    IptablesProxier proxier =
        new IptablesProxier(kernel, cfg, IptablesOptions.defaults(), KernelCapabilities.none());
    long t0 = System.nanoTime();
    proxier.sync(state, true, Set.of());
    out.accept(
        String.format(
            "in-process full sync of %d services x %d endpoints into an empty kernel: %d ms",
            n, e, (System.nanoTime() - t0) / 1_000_000));
    List<ServicePortName> names = new ArrayList<>(state.services().keySet());
    for (int r = 0; r < rounds; r++) {
      ServicePortName victim = names.get((names.size() / 2 + r * 37) % names.size());
      Map<ServicePortName, List<Endpoint>> eps = new HashMap<>(state.endpoints());
      List<Endpoint> list = new ArrayList<>(state.endpointsOf(victim));
      list.set(0, Endpoint.ready("10.99." + (r / 250) + "." + (r % 250 + 1), 8080, "n"));
      eps.put(victim, list);
      state = new ProxyState(new TreeMap<>(state.services()), eps);
      t0 = System.nanoTime();
      proxier.sync(state, false, Set.of(victim.namespacedName()));
      out.accept(
          String.format(
              "in-process partial sync, round %d: %.1f ms", r + 1, (System.nanoTime() - t0) / 1e6));
    }
    saved[0] = savedNat(cfg, state);
    for (int r = 0; r < restarts; r++) {
      IptablesProxier restarted =
          new IptablesProxier(kernel, cfg, IptablesOptions.defaults(), KernelCapabilities.none());
      t0 = System.nanoTime();
      IptablesSyncResult res = restarted.sync(state, true, Set.of());
      out.accept(
          String.format(
              "in-process restart over the unchanged ruleset: %d ms (%s, %d lines written)",
              (System.nanoTime() - t0) / 1_000_000,
              res.summary(),
              res.switchInput().lines().count()));
    }
  }

  /** The nat table as iptables-save prints it once a kernel holds the full render of state. */
  static String savedNat(ProxyConfig cfg, ProxyState state) {
    Table nat =
        new IptablesRenderer(cfg, IptablesOptions.defaults(), KernelCapabilities.none())
            .render(state)
            .restoreInput()
            .table("nat")
            .orElseThrow();
    StringBuilder b = new StringBuilder("# Generated by iptables-nft-save v1.8.9\n*nat\n");
    for (String c : List.of("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")) {
      b.append(':').append(c).append(" ACCEPT [0:0]\n");
    }
    for (Line l : nat.lines()) {
      if (l instanceof Line.ChainDecl c) {
        b.append(':').append(c.name()).append(" - [0:0]\n");
      }
    }
    b.append(
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
    b.append("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
    b.append(
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j"
            + " KUBE-POSTROUTING\n");
    for (Line l : nat.lines()) {
      if (l instanceof Line.RuleLine r) {
        b.append(asSaved(r.rule())).append('\n');
      }
    }
    return b.append("COMMIT\n# Completed\n").toString();
  }

  /**
   * A rendered rule as iptables-nft-save 1.8.9 prints it back (seen on this machine): -s, -d and -p
   * first, host addresses with "/32", comments quoted, probabilities as the kernel's 32-bit value
   * printed with 11 decimals.
   */
  static String asSaved(dev.svcproxy.netfilter.Rule rule) {
    List<String> argv = dev.svcproxy.netfilter.IptablesCodec.argv(rule);
    StringBuilder core = new StringBuilder("-A ").append(rule.chain());
    StringBuilder rest = new StringBuilder();
    String[] order = {"-s", "-d", "-p"};
    String[] found = new String[3];
    for (int i = 0; i < argv.size(); i++) {
      String a = argv.get(i);
      boolean neg = a.equals("!");
      String flag = neg ? argv.get(i + 1) : a;
      int c = List.of(order).indexOf(flag);
      if (c >= 0) {
        String v = argv.get(i + (neg ? 2 : 1));
        if (c < 2 && !v.contains("/")) {
          v += "/32";
        }
        found[c] = (neg ? "! " : "") + flag + " " + v;
        i += neg ? 2 : 1;
      } else if (a.equals("--comment")) {
        rest.append(" --comment \"").append(argv.get(++i)).append('"');
      } else if (a.equals("--probability")) {
        long k = Math.round(Double.parseDouble(argv.get(++i)) * 0x80000000L);
        rest.append(
            String.format(java.util.Locale.ROOT, " --probability %.11f", k / (double) 0x80000000L));
      } else {
        rest.append(' ').append(a);
      }
    }
    for (String f : found) {
      if (f != null) {
        core.append(' ').append(f);
      }
    }
    return core.append(rest).toString();
  }

  /**
   * The per-transaction curve: for each batch size, N services' chains loaded into an empty nat
   * table {@code size} services per iptables-restore, reporting the total, the first transaction
   * (empty kernel: the cost of the transaction alone) and the last (the kernel already full).
   */
  public static void runKnee(
      CommandRunner root, String backend, int n, int e, List<Integer> sizes, Consumer<String> out) {
    ProxyConfig cfg = benchConfig();
    ProxyState state = services(n, e);
    for (int size : sizes) {
      List<String> batches = serviceBatches(cfg, state, size);
      long lines = batches.get(0).lines().count();
      try (Lab lab = Lab.create(root, 1)) {
        IptablesKernel kernel =
            new IptablesKernel(root.inNetns(lab.node("node1").netns()), backend);
        long first = 0;
        long last = 0;
        long t0 = System.nanoTime();
        for (String b : batches) {
          last = timeRestore(kernel, b);
          if (first == 0) {
            first = last;
          }
        }
        long total = (System.nanoTime() - t0) / 1_000_000;
        out.accept(
            String.format(
                "%s: %d services x %d endpoints, %d services (%d lines) per restore, %d restores:"
                    + " %d ms total, first %d ms, last %d ms",
                backend, n, e, size, lines, batches.size(), total, first, last));
      }
    }
  }

  /**
   * The per-service nat chains of the full render, {@code perBatch} services to a restore input.
   * Cut from one render of the whole state so that each chain is exactly what a full sync writes (a
   * render of 100 services alone would not be in large-cluster mode).
   */
  static List<String> serviceBatches(ProxyConfig cfg, ProxyState state, int perBatch) {
    Map<String, Integer> batchOf = new HashMap<>();
    int i = 0;
    for (ServicePortInfo svc : state.services().values()) {
      String name = svc.name().toString();
      String proto = svc.protocol().lower();
      batchOf.put(ChainNames.svc(name, proto), i / perBatch);
      for (Endpoint ep : state.endpointsOf(svc.name())) {
        batchOf.put(ChainNames.sep(name, proto, ep.address()), i / perBatch);
      }
      i++;
    }
    int batches = (i + perBatch - 1) / perBatch;
    List<List<Line>> decls = new ArrayList<>();
    List<List<Line>> rules = new ArrayList<>();
    for (int b = 0; b < batches; b++) {
      decls.add(new ArrayList<>());
      rules.add(new ArrayList<>());
    }
    Table nat =
        new IptablesRenderer(cfg, IptablesOptions.defaults(), KernelCapabilities.none())
            .render(state)
            .restoreInput()
            .table("nat")
            .orElseThrow();
    for (Line l : nat.lines()) {
      if (l instanceof Line.ChainDecl c && batchOf.containsKey(c.name())) {
        decls.get(batchOf.get(c.name())).add(l);
      } else if (l instanceof Line.RuleLine r && batchOf.containsKey(r.rule().chain())) {
        rules.get(batchOf.get(r.rule().chain())).add(l);
      }
    }
    List<String> out = new ArrayList<>();
    for (int b = 0; b < batches; b++) {
      List<Line> lines = new ArrayList<>(decls.get(b));
      lines.addAll(rules.get(b));
      // KUBE-MARK-MASQ is declared so the batch's jumps to it resolve on an empty kernel.
      lines.add(0, new Line.ChainDecl(ChainNames.MARK_MASQ, "-", "[0:0]"));
      out.add(new Ruleset(List.of(new Table("nat", lines))).print());
    }
    return out;
  }

  private static long timeRestore(IptablesKernel kernel, String input) {
    long t0 = System.nanoTime();
    CommandResult r = kernel.restore(input);
    r.orThrow();
    return (System.nanoTime() - t0) / 1_000_000;
  }
}
