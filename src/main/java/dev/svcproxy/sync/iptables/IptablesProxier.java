package dev.svcproxy.sync.iptables;

import static dev.svcproxy.render.iptables.ChainNames.CANARY;
import static dev.svcproxy.render.iptables.ChainNames.EXTERNAL_SERVICES;
import static dev.svcproxy.render.iptables.ChainNames.FIREWALL;
import static dev.svcproxy.render.iptables.ChainNames.FORWARD;
import static dev.svcproxy.render.iptables.ChainNames.MARK_MASQ;
import static dev.svcproxy.render.iptables.ChainNames.NODEPORTS;
import static dev.svcproxy.render.iptables.ChainNames.POSTROUTING;
import static dev.svcproxy.render.iptables.ChainNames.PROXY_FIREWALL;
import static dev.svcproxy.render.iptables.ChainNames.SERVICES;

import dev.svcproxy.kernel.CapabilityProbe;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.RuleCanon;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.netfilter.TableRule;
import dev.svcproxy.render.iptables.ChainNames;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.render.iptables.IptablesRenderer;
import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.render.iptables.RenderOptions;
import dev.svcproxy.render.iptables.RenderResult;
import dev.svcproxy.render.iptables.ServicePortRules;
import dev.svcproxy.sync.Exclusion;
import dev.svcproxy.sync.Proxier;
import dev.svcproxy.sync.SyncException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Applies rendered iptables rules to the kernel the way upstream's proxier does. */
public final class IptablesProxier implements Proxier {
  private static final Logger LOG = LoggerFactory.getLogger(IptablesProxier.class);

  /** Jump rules from the built-in chains, in upstream's order (each is inserted first). */
  public static final List<TableRule> JUMPS = JumpRules.KUBE_PROXY;

  /** kubelet's KUBE-FIREWALL jumps, which upstream also ensures (with no comment). */
  public static final List<TableRule> KUBELET_JUMPS = JumpRules.KUBELET;

  /** Attempts one failed sync may spend finding the service ports the kernel refuses. */
  static final int MAX_RESTORES = 64;

  /**
   * Lines per iptables-restore transaction above which a sync loads new service chains in batches
   * (see {@link BuildThenSwitch}). Measured with {@code svcproxy lab bench-resync --batch-sizes}:
   * on iptables-nft 1.8.9 a transaction's cost grows with the square of its size above a few
   * thousand lines, while each restore also pays for the table it reads, so the knee sits near 4k
   * lines (100 services of 10 endpoints); iptables-legacy rewrites the whole table on every restore
   * and prefers fewer, larger transactions, see DEFAULT_LEGACY_BATCH_LINES.
   */
  public static final int DEFAULT_BATCH_LINES = 4000;

  /** The transaction size for iptables-legacy (see {@link #DEFAULT_BATCH_LINES}). */
  public static final int DEFAULT_LEGACY_BATCH_LINES = 80000;

  private final IptablesKernel kernel;
  private final ProxyConfig cfg;
  private final IptablesOptions options;
  private KernelCapabilities caps;

  /**
   * Lines per transaction above which new service chains are loaded in batches; 0 until the backend
   * is known (asked only when a sync is that large).
   */
  private int batchLines;

  /** What the last successful restore wrote, excluded ports at the version left in place. */
  private ProxyState inKernel = ProxyState.empty();

  /**
   * The per-service nat chains the kernel holds after the last successful sync: the chains of
   * {@link #inKernel}, which a partial sync trusts instead of reading the kernel (the canary check
   * forces a full sync when the rules were touched from outside). Null when unknown (before the
   * first sync, after a failed one, after cleanup): the next sync is then full.
   */
  private Set<String> kernelChains;

  /**
   * The shared chains ("table chain", e.g. "nat KUBE-SERVICES") with the rules the last successful
   * sync left in them, from which a partial sync edits them rule by rule; null exactly when {@link
   * #kernelChains} is.
   */
  private Map<String, List<String>> sharedChains;

  private final Map<ServicePortName, Exclusion> excluded = new TreeMap<>();

  /**
   * The rules of every service port as last rendered, with the inputs they were rendered from: a
   * port's rules depend only on its own service port and endpoints, the configuration, the kernel
   * capabilities and large-cluster mode, so a sync re-renders only the ports whose inputs differ
   * and reuses the rest. Valid for {@link #renderedWith} and {@link #renderedLarge}.
   */
  private final Map<ServicePortName, Rendered> rendered = new HashMap<>();

  /**
   * The printed form of the shared-chain rules of {@link #rendered}, by identity: the record of the
   * shared chains is made of these strings, so a sync prints only the rules of re-rendered ports.
   */
  private final Map<Rule, String> printedShared = new IdentityHashMap<>();

  /** The renderer of {@link #rendered}; null when nothing is cached. */
  private IptablesRenderer renderedWith;

  private KernelCapabilities renderedWithCaps;

  private boolean renderedLarge;

  /** Service ports rendered since this proxier was made (for tests: what a sync re-renders). */
  private long portRenders;

  public IptablesProxier(IptablesKernel kernel, ProxyConfig cfg, IptablesOptions options) {
    this(kernel, cfg, options, KernelCapabilities.none());
  }

  /** A proxier that assumes {@code caps} until {@link #probe()} and full syncs probe them. */
  public IptablesProxier(
      IptablesKernel kernel, ProxyConfig cfg, IptablesOptions options, KernelCapabilities caps) {
    this.kernel = kernel;
    this.cfg = cfg;
    this.options = options;
    this.caps = caps;
  }

  /**
   * @param batchLines lines per iptables-restore transaction above which a sync loads the service
   *     chains the kernel lacks in batches of about this size before switching to them
   */
  public IptablesProxier(
      IptablesKernel kernel,
      ProxyConfig cfg,
      IptablesOptions options,
      KernelCapabilities caps,
      int batchLines) {
    this(kernel, cfg, options, caps);
    if (batchLines < 2) {
      throw new IllegalArgumentException("batchLines must be at least 2: " + batchLines);
    }
    this.batchLines = batchLines;
  }

  /** The transaction size for an input of {@code lines} lines. */
  private int batchLines(int lines) {
    if (batchLines == 0) {
      if (lines <= Math.min(DEFAULT_BATCH_LINES, DEFAULT_LEGACY_BATCH_LINES)) {
        return lines;
      }
      batchLines = kernel.legacy() ? DEFAULT_LEGACY_BATCH_LINES : DEFAULT_BATCH_LINES;
    }
    return batchLines;
  }

  /** Probes the node as upstream does at start: route_localnet, be_liberal, --random-fully. */
  public KernelCapabilities probe() {
    if (options.localhostNodePorts(cfg)) {
      LOG.info("setting route_localnet=1 to allow NodePorts on localhost");
      kernel.setSysctl("net.ipv4.conf.all.route_localnet", "1");
    }
    caps = CapabilityProbe.startup(kernel, caps);
    return caps;
  }

  @Override
  public String name() {
    return "iptables";
  }

  /** The kernel capabilities the renders of this proxier assume (as last probed). */
  public KernelCapabilities capabilities() {
    return caps;
  }

  /**
   * One sync: on a full sync the jump rules, canaries and nfacct counters are ensured first; then
   * the top-level chains and the chains of changed services are written and stale service chains
   * deleted, in one iptables-restore when that is small; otherwise the new service chains are
   * loaded in batches first and one transaction switches to them ({@link BuildThenSwitch}). A full
   * sync finds the stale chains with iptables-save (and skips the chains the kernel already holds
   * as rendered) and rewrites the shared chains (KUBE-SERVICES, ...) whole; a partial one never
   * reads the kernel, takes the stale chains from the record of what the last sync left and edits
   * the shared chains rule by rule from the record of their rules ({@link SharedChainEdits}). Until
   * a sync succeeds after a failed one (or after {@link #cleanup()}), every sync is full, whatever
   * {@code full} says.
   *
   * <p>When iptables-restore refuses the input, the service ports whose rules it refused are found
   * (from the line it names, else by bisecting the changed service ports with real restores),
   * excluded, and the rest is applied: an excluded port keeps the rules it had in the kernel (or
   * gets none), is reported by {@link #excluded()} and in the log, and is retried when it changes
   * or at the next full sync. Throws SyncException only when the failure cannot be pinned on
   * service ports; the kernel then still holds the previous nat rules, since each table is
   * committed as one transaction.
   */
  @Override
  public IptablesSyncResult sync(ProxyState state, boolean full, Set<String> changed) {
    Set<String> known = kernelChains;
    Map<String, List<String>> shared = sharedChains;
    // Whatever happens from here on, until a restore succeeds the kernel's chains are unknown.
    kernelChains = null;
    sharedChains = null;
    if (known == null || shared == null) {
      full = true;
    }
    if (full) {
      for (TableRule j : JUMPS) {
        kernel.ensureJump(j);
      }
      for (TableRule j : KUBELET_JUMPS) {
        kernel.ensureJump(j);
      }
      for (String table : List.of("mangle", "nat", "filter")) {
        kernel.ensureChain(table, CANARY);
      }
      caps = CapabilityProbe.ensureCounters(kernel, caps);
    }
    // Upstream reads the kernel (iptables-save, seconds at 10k services) only on full syncs; a
    // partial sync deletes stale chains from the record of what the last sync left.
    // The saved rules stay text: a chain is parsed only when a cheap comparison finds it changed.
    Map<String, List<String>> kernelNat =
        full ? UnchangedChains.savedChains(kernel.saveText("nat")) : Map.of();
    Attempts a = new Attempts(state, full, changed, kernelNat, full ? null : known);
    a.shared = full ? null : shared;
    // Ports excluded earlier are retried when they change and on every full sync.
    Set<ServicePortName> held = new HashSet<>();
    synchronized (this) {
      for (ServicePortName spn : excluded.keySet()) {
        if (!full && !changed.contains(spn.namespacedName())) {
          held.add(spn);
        }
      }
      excluded.keySet().retainAll(held);
    }
    Set<ServicePortName> dropped = new HashSet<>();
    Attempt first = a.run(held, dropped);
    Attempt last = first;
    while (!last.result.ok()) {
      if (a.count >= MAX_RESTORES) {
        throw failure(first, a);
      }
      Optional<Blame> blame = a.blame(last);
      if (blame.isPresent()) {
        ServicePortName spn = blame.get().service();
        boolean keep = false;
        if (dropped.contains(spn)) {
          throw failure(
              last, a); // Its rules are gone from the input, yet the line is blamed on it.
        } else if (held.contains(spn)) {
          // The version the kernel held is refused too (the kernel changed under it).
          held.remove(spn);
          dropped.add(spn);
        } else if (a.hasOtherPrevious(spn)) {
          held.add(spn);
          keep = true;
        } else {
          dropped.add(spn);
        }
        exclude(
            spn,
            "iptables-restore refused line "
                + blame.get().line()
                + " `"
                + blame.get().text()
                + "`: "
                + errorSummary(last.result),
            keep);
        last = a.run(held, dropped);
      } else {
        last = bisect(a, held, dropped, first, last);
      }
    }
    inKernel = last.effective;
    kernelChains = last.render.activeNatChains();
    sharedChains = SharedChainEdits.record(last.render.restoreInput(), this::print);
    return new IptablesSyncResult(last.render, a.restores, last.text, a.full, a.refused);
  }

  /**
   * Finds the changed service ports the kernel refuses by trying halves as real transactions
   * (iptables-restore --test never asks the kernel, so it cannot find a rule the kernel refuses).
   * Only changed ports are bisected and holding one back restores the rules it had, so no attempt
   * takes a working service's rules off the node; the exception is the first sync after a start,
   * when nothing is known of the kernel's rules and a port still under test has none for a moment.
   * Costs about 2 log2(n) attempts per refused port; a refused build batch narrows the suspects to
   * its own service ports.
   */
  private Attempt bisect(
      Attempts a,
      Set<ServicePortName> held,
      Set<ServicePortName> dropped,
      Attempt first,
      Attempt failed) {
    List<ServicePortName> suspects = new ArrayList<>();
    for (ServicePortName spn : failed.effective.services().keySet()) {
      // A refused build batch holds only its own service ports' new chains: one of them is bad.
      boolean inBatch = failed.batch.isEmpty() || failed.batch.contains(spn);
      if (inBatch && !held.contains(spn) && !dropped.contains(spn) && !a.sameAsKernel(spn)) {
        suspects.add(spn);
      }
    }
    Set<ServicePortName> allHeld = new HashSet<>(held);
    allHeld.addAll(suspects);
    Attempt base = a.run(allHeld, dropped);
    if (suspects.isEmpty() || !base.result.ok()) {
      throw failure(first, a);
    }
    Set<ServicePortName> good = new HashSet<>();
    Set<ServicePortName> bad = new HashSet<>();
    Attempt lastOk = base;
    ArrayDeque<List<ServicePortName>> work = new ArrayDeque<>();
    // The whole set failed already; start from its halves.
    work.push(suspects.subList(suspects.size() / 2, suspects.size()));
    work.push(suspects.subList(0, suspects.size() / 2));
    while (!work.isEmpty()) {
      List<ServicePortName> part = work.pop();
      if (part.isEmpty()) {
        continue;
      }
      if (a.count >= MAX_RESTORES) {
        throw failure(first, a);
      }
      Set<ServicePortName> hold = new HashSet<>(allHeld);
      hold.removeAll(good);
      hold.removeAll(part);
      Attempt t = a.run(hold, dropped);
      if (t.result.ok()) {
        good.addAll(part);
        lastOk = t;
      } else if (part.size() == 1) {
        bad.add(part.get(0));
      } else {
        work.push(part.subList(part.size() / 2, part.size()));
        work.push(part.subList(0, part.size() / 2));
      }
    }
    for (ServicePortName spn : bad) {
      boolean keep = a.hasOtherPrevious(spn);
      (keep ? held : dropped).add(spn);
      exclude(
          spn,
          "iptables-restore refused its rules (found by bisection; "
              + a.lineOf(failed)
              + errorSummary(failed.result)
              + ")",
          keep);
    }
    Set<ServicePortName> finalHold = new HashSet<>(allHeld);
    finalHold.removeAll(good);
    // A port found bad with no previous rules gets none at all.
    finalHold.removeAll(dropped);
    if (lastOk.held.equals(finalHold) && lastOk.dropped.equals(dropped)) {
      return lastOk;
    }
    return a.run(finalHold, dropped);
  }

  private void exclude(ServicePortName spn, String reason, boolean keptPrevious) {
    Exclusion e = new Exclusion(spn, reason, keptPrevious);
    synchronized (this) {
      excluded.put(spn, e);
    }
    LOG.error(
        "service port {} excluded from the iptables sync, {}, until it changes or the next full"
            + " sync: {}",
        spn,
        keptPrevious ? "keeping its previous rules" : "it has no rules on the node",
        reason);
  }

  private static SyncException failure(Attempt a, Attempts all) {
    return new SyncException("iptables-restore failed: " + a.result.stderr().strip(), all.refused);
  }

  /** The lines of iptables-restore's complaint that say what went wrong, joined. */
  private static String errorSummary(CommandResult r) {
    return String.join(
        " ",
        r.stderr()
            .lines()
            .map(String::strip)
            .filter(l -> !l.isEmpty() && !l.startsWith("Try `") && !l.startsWith("Ignoring "))
            .toList());
  }

  /** Service ports the last syncs left out because the kernel refused their rules. */
  @Override
  public synchronized Map<ServicePortName, Exclusion> excluded() {
    return Map.copyOf(excluded);
  }

  /** Service ports rendered so far (every cache miss); tests count re-renders with it. */
  long portRenders() {
    return portRenders;
  }

  /** One service port's rules and the inputs they were rendered from. */
  private record Rendered(ServicePortInfo svc, List<Endpoint> endpoints, ServicePortRules rules) {}

  /**
   * The render of {@code state}, written as {@code opts} says: the same as {@link
   * IptablesRenderer#render(ProxyState, RenderOptions)}, but with the rules of every service port
   * whose inputs are unchanged since it was last rendered reused instead of rendered again.
   */
  private RenderResult render(ProxyState state, RenderOptions opts) {
    IptablesRenderer r = renderedWith;
    boolean large = renderedLarge;
    List<ServicePortRules> ports = new ArrayList<>(state.services().size());
    for (ServicePortInfo svc : state.services().values()) {
      ServicePortName spn = svc.name();
      List<Endpoint> eps = state.endpointsOf(spn);
      Rendered c = rendered.get(spn);
      // Identity first: unchanged ports are usually the same objects from one state to the next.
      if (c == null
          || c.svc() != svc && !c.svc().equals(svc)
          || c.endpoints() != eps && !c.endpoints().equals(eps)) {
        if (c != null) {
          forgetPrinted(c.rules());
        }
        c = new Rendered(svc, eps, r.renderServicePort(r.planner().plan(svc, eps), large));
        portRenders++;
        rendered.put(spn, c);
        for (Rule rule : c.rules().sharedFilterRules()) {
          printedShared.put(rule, rule.print());
        }
        for (Rule rule : c.rules().sharedNatRules()) {
          printedShared.put(rule, rule.print());
        }
      }
      ports.add(c.rules());
    }
    if (rendered.size() > ports.size()) {
      Iterator<Map.Entry<ServicePortName, Rendered>> it = rendered.entrySet().iterator();
      while (it.hasNext()) {
        Map.Entry<ServicePortName, Rendered> e = it.next();
        if (!state.services().containsKey(e.getKey())) {
          forgetPrinted(e.getValue().rules());
          it.remove();
        }
      }
    }
    return r.assemble(ports, large, opts);
  }

  /**
   * Makes the cache of rendered ports valid for {@code state}: forgets it when the capabilities or
   * large-cluster mode differ from those it was rendered with. Returns true when it forgot ports
   * rendered before, whose own chains in the kernel then differ from a render of them, unchanged as
   * they are.
   */
  private boolean prepareRender(ProxyState state) {
    boolean forgot = false;
    if (renderedWith == null || !caps.equals(renderedWithCaps)) {
      forgot = !rendered.isEmpty();
      renderedWith = new IptablesRenderer(cfg, options, caps);
      renderedWithCaps = caps;
      forgetRendered();
    }
    boolean large = renderedWith.largeClusterMode(state);
    if (large != renderedLarge) {
      // Large-cluster mode changes the rules of every port (comments on endpoint rules).
      forgot |= !rendered.isEmpty();
      forgetRendered();
      renderedLarge = large;
    }
    return forgot;
  }

  private void forgetRendered() {
    rendered.clear();
    printedShared.clear();
  }

  private void forgetPrinted(ServicePortRules rules) {
    rules.sharedFilterRules().forEach(printedShared::remove);
    rules.sharedNatRules().forEach(printedShared::remove);
  }

  /** A rule as printed, from the cache when it is a cached port's shared rule. */
  private String print(Rule rule) {
    String s = printedShared.get(rule);
    return s != null ? s : rule.print();
  }

  /** The ports of the service {@code nsName} ("ns/name") in a map ordered by port name. */
  static <V> SortedMap<ServicePortName, V> portsOf(
      SortedMap<ServicePortName, V> map, String nsName) {
    int slash = nsName.indexOf('/');
    if (slash < 0) {
      return Collections.emptySortedMap();
    }
    String ns = nsName.substring(0, slash);
    String name = nsName.substring(slash + 1);
    Protocol first = Protocol.values()[0];
    // Every port of ns/name sorts from ("ns", "name", "", first) and below the next name.
    return map.subMap(
        new ServicePortName(ns, name, "", first), new ServicePortName(ns, name + "\0", "", first));
  }

  /** A restore line and the service port its rule belongs to. */
  record Blame(ServicePortName service, int line, String text) {}

  /**
   * One attempt to write the state with some service ports held back or dropped: its last (or
   * refused) restore input and result, and the service ports of a refused build batch (else empty).
   */
  private record Attempt(
      ProxyState effective,
      Set<ServicePortName> held,
      Set<ServicePortName> dropped,
      RenderResult render,
      String text,
      CommandResult result,
      Set<ServicePortName> batch) {}

  /** The restores of one sync, all built from the same desired state and kernel view. */
  private final class Attempts {
    private final ProxyState desired;
    private final boolean full;
    private final Set<String> changed;

    /**
     * The service chains the kernel holds, as far as they matter to this sync: on a full sync every
     * chain iptables-save listed; on a partial one only the recorded chains of the service ports it
     * may touch, since only those can go stale.
     */
    private final Set<String> existing;

    /** On a partial sync, the service chains the kernel held before it (not to be modified). */
    private final Set<String> known;

    /** Attempts made. */
    private int count;

    /** True once an attempt of this sync found every port's own chains to be rewritten. */
    private boolean rewriteAll;

    /**
     * On a partial sync, the shared chains as the kernel holds them (see {@link #sharedChains}),
     * kept up to date; null on a full sync, which rewrites them whole.
     */
    private Map<String, List<String>> shared;

    /** iptables-restore runs made. */
    private int restores;

    /** iptables-restore runs the kernel refused. */
    private int refused;

    /**
     * On a full sync, the nat chains the kernel holds with their rule lines (as iptables-save
     * printed them, or as written), kept up to date.
     */
    private final Map<String, List<String>> view;

    Attempts(
        ProxyState desired,
        boolean full,
        Set<String> changed,
        Map<String, List<String>> kernelNat,
        Set<String> known) {
      this.desired = desired;
      this.full = full;
      this.changed = changed;
      this.known = known;
      this.existing = new HashSet<>(kernelNat.keySet());
      this.view = full ? new HashMap<>(kernelNat) : Map.of();
    }

    /** Whether the nat table holds {@code chain}, so that a rule may reference it. */
    private boolean inKernel(String chain) {
      return full ? view.containsKey(chain) : existing.contains(chain) || known.contains(chain);
    }

    private CommandResult restore(String text) {
      restores++;
      CommandResult r = kernel.restore(text);
      if (!r.ok()) {
        refused++;
      }
      return r;
    }

    /**
     * Restores {@code desired} with the ports in {@code held} at the version the kernel holds
     * (absent if none) and those in {@code dropped} left out. The kernel view from before the first
     * attempt stays valid for every attempt: attempts only ever move a port from its previous
     * version towards the desired one, so a chain equal to the saved one is still in the kernel as
     * saved.
     */
    Attempt run(Set<ServicePortName> held, Set<ServicePortName> dropped) {
      ProxyState eff = effective(held, dropped);
      if (!full) {
        existing.addAll(touchedChains(held, dropped));
      }
      // Once large-cluster mode flips, every port's own chains differ from the kernel's: this sync
      // rewrites them all. It flips only near the threshold (1000 endpoints), where that is small.
      rewriteAll |= prepareRender(eff);
      RenderResult rr = render(eff, new RenderOptions(full || rewriteAll, changed, existing));
      Ruleset input = rr.restoreInput();
      if (full) {
        input = UnchangedChains.dropSaved(input, view);
      }
      count++;
      // A partial sync edits the shared chains from the record instead of rewriting them, so its
      // size is that of the edited text.
      Map<String, List<String>> wanted =
          shared == null ? null : SharedChainEdits.record(input, IptablesProxier.this::print);
      String whole = shared == null ? null : SharedChainEdits.print(input, shared, wanted);
      int size = whole == null ? BuildThenSwitch.lines(input) : (int) whole.lines().count();
      int max = batchLines(size);
      BuildThenSwitch.Plan plan =
          BuildThenSwitch.plan(
              input,
              this::inKernel,
              () -> RestoreErrors.chainOwners(eff),
              size <= max ? Integer.MAX_VALUE : max);
      String switchText =
          whole == null
              ? plan.switchInput().print()
              : plan.single()
                  ? whole
                  : SharedChainEdits.print(
                      plan.switchInput(),
                      shared,
                      SharedChainEdits.record(plan.switchInput(), IptablesProxier.this::print));
      Attempt done = apply(plan, switchText, eff, held, dropped, rr);
      CommandResult r = done.result;
      if (r.ok() && shared != null) {
        shared = wanted;
      }
      if (r.ok() && full) {
        Table nat = input.table("nat").orElse(new Table("nat", List.of()));
        for (Line l : nat.lines()) {
          if (l instanceof Line.ChainDecl c) {
            view.put(c.name(), new ArrayList<>());
          } else if (l instanceof Line.DeleteChain d) {
            view.remove(d.name());
          }
        }
        for (Line l : nat.lines()) {
          if (l instanceof Line.RuleLine rl) {
            view.computeIfAbsent(rl.rule().chain(), k -> new ArrayList<>()).add(print(rl.rule()));
          }
        }
      }
      if (r.ok()) {
        // A chain an earlier attempt of this sync created is in the kernel too, even if this
        // sync's record never held it.
        Set<String> made = rr.activeNatChains();
        if (full) {
          existing.addAll(made);
        } else {
          for (String c : touchedNames(held, dropped)) {
            if (made.contains(c)) {
              existing.add(c);
            }
          }
        }
      }
      return done;
    }

    /**
     * Writes one attempt's plan: the build batches, the switch, the stale chains' deletion. When a
     * build or the switch is refused, the chains the earlier builds loaded are deleted again (no
     * rule references them yet), so the kernel holds what it held before; the attempt then carries
     * the refused input and, for a build, the service ports it held.
     */
    private Attempt apply(
        BuildThenSwitch.Plan plan,
        String text,
        ProxyState eff,
        Set<ServicePortName> held,
        Set<ServicePortName> dropped,
        RenderResult rr) {
      Set<ServicePortName> h = Set.copyOf(held);
      Set<ServicePortName> d = Set.copyOf(dropped);
      if (plan.single()) {
        return new Attempt(eff, h, d, rr, text, restore(text), Set.of());
      }
      if (!plan.builds().isEmpty()) {
        // New service chains jump to it; on an empty node nothing has created it yet.
        kernel.ensureChain("nat", MARK_MASQ);
      }
      List<String> loaded = new ArrayList<>();
      for (BuildThenSwitch.Batch b : plan.builds()) {
        CommandResult r = restore(b.text());
        if (!r.ok()) {
          unload(loaded);
          return new Attempt(eff, h, d, rr, b.text(), r, b.services());
        }
        loaded.addAll(b.chains());
      }
      CommandResult r = restore(text);
      if (!r.ok()) {
        unload(loaded);
        return new Attempt(eff, h, d, rr, text, r, Set.of());
      }
      for (String del : BuildThenSwitch.deletions(plan.stale(), batchLines(Integer.MAX_VALUE))) {
        CommandResult dr = restore(del);
        if (!dr.ok()) {
          // The switch is in and nothing of ours references them; the next full sync retries.
          LOG.warn("could not delete stale service chains: {}", errorSummary(dr));
          break;
        }
      }
      return new Attempt(eff, h, d, rr, text, r, Set.of());
    }

    /** Deletes the unreferenced chains a refused attempt loaded. */
    private void unload(List<String> chains) {
      for (String del : BuildThenSwitch.deletions(chains, batchLines(Integer.MAX_VALUE))) {
        CommandResult r = restore(del);
        if (!r.ok()) {
          // Unreferenced, so traffic never sees them; the next full sync finds them stale.
          LOG.error("could not remove the chains of a refused sync: {}", errorSummary(r));
          return;
        }
      }
    }

    /** The recorded chains of the service ports a partial sync may touch. */
    private Set<String> touchedChains(Set<ServicePortName> held, Set<ServicePortName> dropped) {
      Set<String> out = new HashSet<>();
      for (String c : touchedNames(held, dropped)) {
        if (known.contains(c)) {
          out.add(c);
        }
      }
      return out;
    }

    /**
     * Every chain name the touched service ports may have, at the version the kernel holds and at
     * the desired one: the ports of changed services, those held back or dropped, and any the
     * kernel holds that the desired state no longer has.
     */
    private Set<String> touchedNames(Set<ServicePortName> held, Set<ServicePortName> dropped) {
      Map<ServicePortName, ServicePortInfo> old = new TreeMap<>();
      Map<ServicePortName, List<Endpoint>> oldEps = new HashMap<>();
      Map<ServicePortName, ServicePortInfo> now = new TreeMap<>();
      Map<ServicePortName, List<Endpoint>> nowEps = new HashMap<>();
      // The ports of changed services, looked up by range rather than by a scan of every port.
      Set<ServicePortName> touched = new HashSet<>(held);
      touched.addAll(dropped);
      int gone = 0;
      int added = 0;
      for (String nn : changed) {
        Set<ServicePortName> was = portsOf(inKernel.services(), nn).keySet();
        Set<ServicePortName> is = portsOf(desired.services(), nn).keySet();
        touched.addAll(was);
        touched.addAll(is);
        gone += (int) was.stream().filter(spn -> !is.contains(spn)).count();
        added += (int) is.stream().filter(spn -> !was.contains(spn)).count();
      }
      // Ports gone from the desired state outside the changed services would be missed: when the
      // counts do not add up, every port the kernel holds is checked.
      if (inKernel.services().size() - gone + added != desired.services().size()) {
        for (ServicePortName spn : inKernel.services().keySet()) {
          if (!desired.services().containsKey(spn)) {
            touched.add(spn);
          }
        }
      }
      for (ServicePortName spn : touched) {
        ServicePortInfo svc = inKernel.services().get(spn);
        if (svc != null) {
          old.put(spn, svc);
          oldEps.put(spn, inKernel.endpointsOf(spn));
        }
        svc = desired.services().get(spn);
        if (svc != null) {
          now.put(spn, svc);
          nowEps.put(spn, desired.endpointsOf(spn));
        }
      }
      Set<String> out = new HashSet<>();
      out.addAll(RestoreErrors.chainOwners(new ProxyState(new TreeMap<>(old), oldEps)).keySet());
      out.addAll(RestoreErrors.chainOwners(new ProxyState(new TreeMap<>(now), nowEps)).keySet());
      return out;
    }

    private ProxyState effective(Set<ServicePortName> held, Set<ServicePortName> dropped) {
      if (held.isEmpty() && dropped.isEmpty()) {
        return desired;
      }
      Map<ServicePortName, ServicePortInfo> svcs = new TreeMap<>(desired.services());
      Map<ServicePortName, List<Endpoint>> eps = new HashMap<>(desired.endpoints());
      for (ServicePortName spn : held) {
        svcs.remove(spn);
        eps.remove(spn);
        ServicePortInfo prev = inKernel.services().get(spn);
        if (prev != null) {
          svcs.put(spn, prev);
          eps.put(spn, inKernel.endpointsOf(spn));
        }
      }
      for (ServicePortName spn : dropped) {
        svcs.remove(spn);
        eps.remove(spn);
      }
      return new ProxyState(new TreeMap<>(svcs), eps);
    }

    /** True when the kernel holds a version of {@code spn} other than the desired one. */
    boolean hasOtherPrevious(ServicePortName spn) {
      return inKernel.services().containsKey(spn) && !sameAsKernel(spn);
    }

    boolean sameAsKernel(ServicePortName spn) {
      return Objects.equals(inKernel.services().get(spn), desired.services().get(spn))
          && inKernel.endpointsOf(spn).equals(desired.endpointsOf(spn));
    }

    /** "line N `text`: " for the line iptables-restore names (a COMMIT on iptables-legacy). */
    String lineOf(Attempt a) {
      OptionalInt n = RestoreErrors.failedLine(a.result.stderr());
      String[] lines = a.text.split("\\n", -1);
      if (n.isEmpty() || n.getAsInt() < 1 || n.getAsInt() > lines.length) {
        return "";
      }
      String table = "";
      for (int i = n.getAsInt() - 1; i >= 0; i--) {
        if (lines[i].startsWith("*")) {
          table = " of table " + lines[i].substring(1);
          break;
        }
      }
      return "line " + n.getAsInt() + table + " `" + lines[n.getAsInt() - 1] + "`: ";
    }

    /** The service port whose rule is on the line iptables-restore names, if any. */
    Optional<Blame> blame(Attempt a) {
      OptionalInt n = RestoreErrors.failedLine(a.result.stderr());
      if (n.isEmpty()) {
        return Optional.empty();
      }
      String[] lines = a.text.split("\n", -1);
      if (n.getAsInt() < 1 || n.getAsInt() > lines.length) {
        return Optional.empty();
      }
      String text = lines[n.getAsInt() - 1];
      return RestoreErrors.owner(text, a.effective).map(spn -> new Blame(spn, n.getAsInt(), text));
    }
  }

  /**
   * What is missing of the state every sync relies on: the canary chain in mangle, nat and filter
   * (gone after `iptables -t T -F -X`) and our jump rules in the built-in chains (gone after `-F`
   * alone, which leaves every chain in place). Empty when all is there. Costs one `iptables -S` of
   * each canary and of each built-in chain holding a jump; those chains stay short however many
   * services there are, so the check never reads a whole table.
   */
  @Override
  public List<String> missing() {
    List<String> out = new ArrayList<>();
    for (String table : List.of("mangle", "nat", "filter")) {
      if (!kernel.chainExists(table, CANARY)) {
        out.add(table + " " + CANARY);
      }
    }
    Map<String, List<TableRule>> byChain = new LinkedHashMap<>();
    for (TableRule j : JUMPS) {
      byChain.computeIfAbsent(j.table() + " " + j.rule().chain(), k -> new ArrayList<>()).add(j);
    }
    for (TableRule j : KUBELET_JUMPS) {
      byChain.computeIfAbsent(j.table() + " " + j.rule().chain(), k -> new ArrayList<>()).add(j);
    }
    for (List<TableRule> jumps : byChain.values()) {
      TableRule any = jumps.get(0);
      Set<String> have = new HashSet<>();
      for (String l : kernel.listRules(any.table(), any.rule().chain()).orElse(List.of())) {
        try {
          have.add(RuleCanon.key(IptablesCodec.parseRule(l)));
        } catch (RuntimeException e) {
          // Another tool's rule this codec cannot read; it is not one of ours.
        }
      }
      for (TableRule j : jumps) {
        if (!have.contains(RuleCanon.key(j.rule()))) {
          out.add(j.toString());
        }
      }
    }
    return out;
  }

  /** Removes every jump rule and chain svcproxy installs. */
  @Override
  public void cleanup() {
    kernelChains = null;
    sharedChains = null;
    for (TableRule j : JUMPS) {
      kernel.deleteJump(j);
    }
    for (TableRule j : KUBELET_JUMPS) {
      kernel.deleteJump(j);
    }
    kernel.deleteChains(
        "nat",
        c ->
            c.equals(SERVICES)
                || c.equals(NODEPORTS)
                || c.equals(POSTROUTING)
                || ChainNames.isServiceChain(c));
    // KUBE-MARK-MASQ may still be referenced by kubelet's rules; then it stays.
    kernel.deleteChains("nat", c -> c.equals(MARK_MASQ) || c.equals(CANARY));
    kernel.deleteChains(
        "filter",
        c ->
            Set.of(
                    SERVICES,
                    EXTERNAL_SERVICES,
                    FORWARD,
                    NODEPORTS,
                    PROXY_FIREWALL,
                    FIREWALL,
                    CANARY)
                .contains(c));
    kernel.deleteChains("mangle", c -> c.equals(CANARY));
  }
}
