package dev.svcproxy.sync.nftables;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.NftKernel;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.nftables.NftChain;
import dev.svcproxy.nftables.NftElement;
import dev.svcproxy.nftables.NftObjects;
import dev.svcproxy.nftables.NftRule;
import dev.svcproxy.nftables.NftRuleset;
import dev.svcproxy.nftables.NftSet;
import dev.svcproxy.nftables.NftTransaction;
import dev.svcproxy.nftables.NftVerb;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.sync.Exclusion;
import dev.svcproxy.sync.Proxier;
import dev.svcproxy.sync.SyncException;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.sync.ipvs.IpvsProxier;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.LongSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps upstream's {@code ip kube-proxy} table equal to the rendered one, sending the kernel only
 * what differs, in one atomic {@code nft -f} transaction per sync.
 *
 * <p>A full sync (the first, one after a failure, the periodic one) reads the table with {@code nft
 * -j list table} and compares everything; a partial sync re-renders only the service ports that
 * changed and compares them with its record of what the last sync left. Either way a chain that
 * differs is flushed and refilled, a new one added, map and set elements are added and deleted one
 * by one (a changed value is a delete and an add), and chains nothing wants any more are flushed at
 * once and deleted in a later sync, at least {@link #STALE_CHAIN_DELAY} after, once nothing refers
 * to them (upstream's delay, for kernels that release map references lazily). A sync that must load
 * many new chains (a first sync) loads them in batches of unreferenced chains before the
 * transaction that switches to them: nft's cost per transaction grows faster than its size.
 */
public final class NftablesProxier implements Proxier {
  private static final Logger LOG = LoggerFactory.getLogger(NftablesProxier.class);

  /** How long a flushed stale chain waits before it is deleted (upstream: 1 s). */
  public static final Duration STALE_CHAIN_DELAY = Duration.ofSeconds(1);

  /**
   * Lines per transaction above which new chains are loaded in batches before the switch. Measured
   * with nft 1.0.6 on this machine, 10k services of 10 endpoints (350k lines): one transaction 47 s
   * (45 s in knftables' order), batches of 1000 services (32k lines) 16 s, of 300 services 17 s.
   */
  public static final int DEFAULT_BATCH_LINES = 30000;

  /** The tables upstream's nftables mode creates, which cleanup deletes. */
  public static final List<List<String>> TABLES =
      List.of(List.of("ip", "kube-proxy"), List.of("ip6", "kube-proxy"));

  private static final Pattern REF = Pattern.compile("(?:jump|goto) ([^\\s,}]+)");

  private final NftKernel kernel;
  private final NftRender render;
  private final LongSupplier nanos;
  private final int batchLines;

  /** Whether the record below is what the kernel holds; false forces a full sync. */
  private boolean known;

  private String family = "ip";
  private String table = "kube-proxy";
  private NftObjects base = NftObjects.empty();
  private final TreeMap<ServicePortName, NftObjects> ports = new TreeMap<>();
  private final Map<String, NftChain> chains = new HashMap<>();
  private final Map<String, NftSet> sets = new HashMap<>();
  private final Map<String, Map<String, NftElement>> elements = new HashMap<>();

  /** By chain name, how many rules and map elements of the record jump or go to it. */
  private final Map<String, Integer> refs = new HashMap<>();

  /** Stale chains (flushed, empty) by when they were flushed ({@link #nanos}). */
  private final Map<String, Long> stale = new LinkedHashMap<>();

  public NftablesProxier(NftKernel kernel, NftRender render) {
    this(kernel, render, System::nanoTime, DEFAULT_BATCH_LINES);
  }

  /**
   * @param nanos the clock stale chains are timed with
   * @param batchLines see {@link #DEFAULT_BATCH_LINES}
   */
  public NftablesProxier(NftKernel kernel, NftRender render, LongSupplier nanos, int batchLines) {
    if (batchLines < 2) {
      throw new IllegalArgumentException("batchLines must be at least 2: " + batchLines);
    }
    this.kernel = kernel;
    this.render = render;
    this.nanos = nanos;
    this.batchLines = batchLines;
  }

  @Override
  public String name() {
    return "nftables";
  }

  /** Stale chains waiting to be deleted (for tests and logs). */
  public synchronized Set<String> staleChains() {
    return Set.copyOf(stale.keySet());
  }

  /** What one sync will send, in the order the transaction needs it. */
  private static final class Plan {
    final boolean full;
    String tableComment;
    final List<NftChain> redeclare = new ArrayList<>();
    final List<NftChain> added = new ArrayList<>();
    final List<NftChain> changed = new ArrayList<>();
    final List<String> flushStale = new ArrayList<>();
    final List<NftSet> deleteSets = new ArrayList<>();
    final List<NftSet> addSets = new ArrayList<>();
    final Set<String> newSets = new HashSet<>();
    final List<NftElement> deleteElements = new ArrayList<>();
    final List<NftElement> addElements = new ArrayList<>();
    final List<String> deleteStale = new ArrayList<>();
    final Map<String, Long> staleAfter = new LinkedHashMap<>();

    Plan(boolean full) {
      this.full = full;
    }
  }

  @Override
  public synchronized NftSyncResult sync(ProxyState state, boolean full, Set<String> changed) {
    long now = nanos.getAsLong();
    boolean doFull = full || !known;
    Plan plan;
    NftRuleset desired = null;
    NftObjects newBase = null;
    Map<ServicePortName, NftObjects> newPorts = new TreeMap<>();
    List<String> sent = new ArrayList<>();
    int cleanupFailures = 0;
    try {
      if (doFull) {
        desired = render.render(state);
        plan = planFull(desired, now);
      } else {
        newBase = render.base(state);
        Set<ServicePortName> touched = touched(state, changed);
        for (ServicePortName spn : touched) {
          newPorts.put(
              spn,
              state.services().containsKey(spn)
                  ? render.servicePort(state, spn)
                  : NftObjects.empty());
        }
        plan = planPartial(newBase, newPorts, now);
      }
      List<String> batches = batches(plan);
      for (String b : batches) {
        CommandResult r = kernel.apply(b);
        sent.add(b);
        if (!r.ok()) {
          throw refused(r);
        }
      }
      String sw = switchTransaction(plan, !batches.isEmpty(), true);
      if (sw.isEmpty()) {
        // Nothing differs: no nft run at all.
        return finish(doFull, desired, newBase, newPorts, plan, sent, cleanupFailures);
      }
      CommandResult r = kernel.apply(sw);
      if (!r.ok() && !plan.deleteStale.isEmpty()) {
        // Upstream counts a refused stale-chain deletion as a cleanup failure, not a sync failure.
        LOG.warn(
            "nft refused deleting {} stale chains ({}); syncing without, retrying later",
            plan.deleteStale.size(),
            r.firstErrorLine());
        cleanupFailures = 1;
        plan.deleteStale.clear();
        sw = switchTransaction(plan, !batches.isEmpty(), true);
        r = kernel.apply(sw);
      }
      if (!r.ok()) {
        throw refused(r);
      }
      sent.add(sw);
    } catch (RuntimeException e) {
      forget();
      throw e instanceof SyncException
          ? e
          : new SyncException("nftables sync failed: " + e.getMessage());
    }
    return finish(doFull, desired, newBase, newPorts, plan, sent, cleanupFailures);
  }

  private NftSyncResult finish(
      boolean doFull,
      NftRuleset desired,
      NftObjects newBase,
      Map<ServicePortName, NftObjects> newPorts,
      Plan plan,
      List<String> sent,
      int cleanupFailures) {
    if (doFull) {
      commitFull(desired, plan);
    } else {
      commitPartial(newBase, newPorts, plan);
    }
    int written = plan.added.size() + plan.changed.size() + plan.redeclare.size();
    return new NftSyncResult(
        doFull,
        sent,
        written,
        plan.addElements.size(),
        plan.deleteElements.size(),
        plan.deleteStale.size(),
        cleanupFailures);
  }

  private SyncException refused(CommandResult r) {
    return new SyncException("nft -f refused the transaction: " + r.stderr().strip());
  }

  /** The service ports of the namespaced names {@code changed}, in the record or the state. */
  private Set<ServicePortName> touched(ProxyState state, Set<String> changed) {
    Set<ServicePortName> out = new LinkedHashSet<>();
    for (String nn : changed) {
      int slash = nn.indexOf('/');
      if (slash < 0) {
        continue;
      }
      ServicePortName low =
          new ServicePortName(
              nn.substring(0, slash), nn.substring(slash + 1), "", Protocol.values()[0]);
      collect(ports, low, nn, out);
      collect(state.services(), low, nn, out);
    }
    return out;
  }

  private static void collect(
      java.util.SortedMap<ServicePortName, ?> map,
      ServicePortName low,
      String nn,
      Set<ServicePortName> out) {
    for (ServicePortName spn : map.tailMap(low).keySet()) {
      if (!spn.namespacedName().equals(nn)) {
        break;
      }
      out.add(spn);
    }
  }

  // ---- full sync: compare with the kernel's table ----

  private Plan planFull(NftRuleset desired, long now) {
    return planFull(
        desired,
        kernel
            .list(desired.family(), desired.table())
            .orElse(
                new NftKernel.Listing(
                    desired.family(), desired.table(), Map.of(), Map.of(), Map.of())),
        now);
  }

  /**
   * The one transaction a full sync sends to a node without the table (what {@code svcproxy render
   * --mode nftables} prints): the table, every chain declared before any rule, the sets and maps,
   * their elements, then the rules. A sync of a large table sends the same lines, with the regular
   * chains split off into batches first.
   */
  public static String fullLoad(NftRuleset desired) {
    NftablesProxier p =
        new NftablesProxier(
            new NftKernel(null), NftRender.of(s -> desired), () -> 0L, Integer.MAX_VALUE);
    Plan plan =
        p.planFull(
            desired,
            new NftKernel.Listing(desired.family(), desired.table(), Map.of(), Map.of(), Map.of()),
            0L);
    return p.switchTransaction(plan, false, true);
  }

  private Plan planFull(NftRuleset desired, NftKernel.Listing k, long now) {
    family = desired.family();
    table = desired.table();
    Plan p = new Plan(true);
    p.tableComment = desired.comment();
    NftObjects all = desired.all();
    Map<String, NftChain> dChains = byName(all.chains());
    Map<String, NftSet> dSets = new LinkedHashMap<>();
    for (NftSet s : all.sets()) {
      dSets.putIfAbsent(s.name(), s);
    }
    for (NftChain c : dChains.values()) {
      NftKernel.Chain kc = k.chains().get(c.name());
      if (kc == null) {
        p.added.add(c);
      } else if (!NftCanon.sameBase(c.base(), kc.base())) {
        p.redeclare.add(c);
      } else if (!NftCanon.rules(c.rules()).equals(kc.rules())) {
        p.changed.add(c);
      }
    }
    for (NftKernel.Chain kc : k.chains().values()) {
      if (!dChains.containsKey(kc.name())) {
        if (!kc.rules().isEmpty()) {
          p.flushStale.add(kc.name());
        }
        p.staleAfter.put(kc.name(), stale.getOrDefault(kc.name(), now));
      }
    }
    Set<String> recreated = new HashSet<>();
    for (NftSet s : dSets.values()) {
      NftSet ks = k.sets().get(s.name());
      if (ks == null) {
        p.addSets.add(s);
        p.newSets.add(s.name());
      } else if (!NftCanon.sameSet(s, ks)) {
        p.deleteSets.add(ks);
        p.addSets.add(s);
        recreated.add(s.name());
      }
    }
    for (NftSet ks : k.sets().values()) {
      if (!dSets.containsKey(ks.name())) {
        p.deleteSets.add(ks);
      }
    }
    rewriteUsers(p, recreated, dChains.values());
    Map<String, Map<String, NftElement>> dElems = elementsBySet(all.elements());
    for (NftSet s : dSets.values()) {
      if (s.flags().contains("dynamic")) {
        // Packets fill these (affinity); the kernel's elements are not ours to compare.
        continue;
      }
      Map<String, NftElement> want = dElems.getOrDefault(s.name(), Map.of());
      Map<String, NftElement> have =
          p.newSets.contains(s.name()) || recreated.contains(s.name())
              ? Map.of()
              : k.elements().getOrDefault(s.name(), Map.of());
      for (NftElement e : want.values()) {
        NftElement h = have.get(e.keyText());
        if (h == null) {
          p.addElements.add(e);
        } else if (!h.equals(e)) {
          p.deleteElements.add(h);
          p.addElements.add(e);
        }
      }
      for (NftElement h : have.values()) {
        if (!want.containsKey(h.keyText())) {
          p.deleteElements.add(h);
        }
      }
    }
    for (NftElement e : all.elements()) {
      if (!dSets.containsKey(e.set())) {
        // An element of a set nobody declares: send it, and let nft say what is wrong.
        p.addElements.add(e);
      }
    }
    Map<String, Integer> dRefs = new HashMap<>();
    countRefs(all, dRefs, 1);
    for (Map.Entry<String, Long> s : p.staleAfter.entrySet()) {
      if (due(s.getValue(), now) && dRefs.getOrDefault(s.getKey(), 0) == 0) {
        p.deleteStale.add(s.getKey());
      }
    }
    return p;
  }

  private void commitFull(NftRuleset desired, Plan p) {
    NftObjects all = desired.all();
    base = desired.base();
    ports.clear();
    ports.putAll(desired.services());
    chains.clear();
    chains.putAll(byName(all.chains()));
    sets.clear();
    for (NftSet s : all.sets()) {
      sets.putIfAbsent(s.name(), s);
    }
    elements.clear();
    elements.putAll(elementsBySet(all.elements()));
    refs.clear();
    countRefs(all, refs, 1);
    stale.clear();
    stale.putAll(p.staleAfter);
    for (String s : p.deleteStale) {
      stale.remove(s);
    }
    for (String s : stale.keySet()) {
      chains.put(s, NftChain.regular(s, List.of()));
    }
    known = true;
  }

  // ---- partial sync: compare the re-rendered ports with the record ----

  private Plan planPartial(
      NftObjects newBase, Map<ServicePortName, NftObjects> newPorts, long now) {
    Plan p = new Plan(false);
    NftObjects before = base;
    NftObjects after = newBase;
    for (Map.Entry<ServicePortName, NftObjects> e : newPorts.entrySet()) {
      NftObjects old = ports.get(e.getKey());
      if (old != null) {
        before = before.plus(old);
      }
      after = after.plus(e.getValue());
    }
    Map<String, NftChain> oldChains = byName(before.chains());
    Map<String, NftChain> newChains = byName(after.chains());
    for (NftChain c : newChains.values()) {
      NftChain cur = chains.get(c.name());
      if (cur == null) {
        p.added.add(c);
      } else if (!cur.base().equals(c.base())) {
        p.redeclare.add(c);
      } else if (!cur.rules().equals(c.rules()) || !cur.comment().equals(c.comment())) {
        p.changed.add(c);
      }
    }
    for (NftChain c : oldChains.values()) {
      if (!newChains.containsKey(c.name())
          && chains.containsKey(c.name())
          && !stale.containsKey(c.name())) {
        if (!chains.get(c.name()).rules().isEmpty()) {
          p.flushStale.add(c.name());
        }
        p.staleAfter.put(c.name(), now);
      }
    }
    Map<String, NftSet> oldSets = new LinkedHashMap<>();
    before.sets().forEach(s -> oldSets.putIfAbsent(s.name(), s));
    Map<String, NftSet> newSets = new LinkedHashMap<>();
    after.sets().forEach(s -> newSets.putIfAbsent(s.name(), s));
    Set<String> recreated = new HashSet<>();
    Set<String> deleted = new HashSet<>();
    for (NftSet s : newSets.values()) {
      NftSet cur = sets.get(s.name());
      if (cur == null) {
        p.addSets.add(s);
        p.newSets.add(s.name());
      } else if (!cur.equals(s)) {
        p.deleteSets.add(cur);
        p.addSets.add(s);
        recreated.add(s.name());
      }
    }
    for (NftSet s : oldSets.values()) {
      if (!newSets.containsKey(s.name()) && sets.containsKey(s.name())) {
        p.deleteSets.add(sets.get(s.name()));
        deleted.add(s.name());
      }
    }
    rewriteUsers(p, recreated, newChains.values());
    Map<String, Map<String, NftElement>> oldEls = elementsBySet(before.elements());
    Map<String, Map<String, NftElement>> newEls = elementsBySet(after.elements());
    for (Map.Entry<String, Map<String, NftElement>> e : newEls.entrySet()) {
      String set = e.getKey();
      Map<String, NftElement> have =
          recreated.contains(set) ? Map.of() : elements.getOrDefault(set, Map.of());
      for (NftElement el : e.getValue().values()) {
        NftElement h = have.get(el.keyText());
        if (h == null) {
          p.addElements.add(el);
        } else if (!h.equals(el)) {
          p.deleteElements.add(h);
          p.addElements.add(el);
        }
      }
    }
    for (Map.Entry<String, Map<String, NftElement>> e : oldEls.entrySet()) {
      String set = e.getKey();
      if (recreated.contains(set) || deleted.contains(set)) {
        continue;
      }
      Map<String, NftElement> want = newEls.getOrDefault(set, Map.of());
      Map<String, NftElement> have = elements.getOrDefault(set, Map.of());
      for (NftElement el : e.getValue().values()) {
        if (!want.containsKey(el.keyText()) && have.containsKey(el.keyText())) {
          p.deleteElements.add(have.get(el.keyText()));
        }
      }
    }
    // Elements of a recreated set that stayed out of this sync's ports: re-add them.
    for (String set : recreated) {
      Map<String, NftElement> touchedEls = newEls.getOrDefault(set, Map.of());
      Map<String, NftElement> oldTouched = oldEls.getOrDefault(set, Map.of());
      for (NftElement el : elements.getOrDefault(set, Map.of()).values()) {
        if (!touchedEls.containsKey(el.keyText()) && !oldTouched.containsKey(el.keyText())) {
          p.addElements.add(el);
        }
      }
    }
    Map<String, Integer> delta = refDelta(p, oldChains, oldEls, newChains, newEls);
    for (Map.Entry<String, Long> s : stale.entrySet()) {
      String name = s.getKey();
      if (!newChains.containsKey(name)
          && due(s.getValue(), now)
          && refs.getOrDefault(name, 0) + delta.getOrDefault(name, 0) <= 0) {
        p.deleteStale.add(name);
      }
    }
    return p;
  }

  /** How the sync changes each chain's reference count. */
  private Map<String, Integer> refDelta(
      Plan p,
      Map<String, NftChain> oldChains,
      Map<String, Map<String, NftElement>> oldEls,
      Map<String, NftChain> newChains,
      Map<String, Map<String, NftElement>> newEls) {
    Map<String, Integer> d = new HashMap<>();
    for (NftChain c : oldChains.values()) {
      NftChain cur = chains.get(c.name());
      if (cur != null) {
        countRefs(cur.rules(), d, -1);
      }
    }
    for (NftChain c : newChains.values()) {
      countRefs(c.rules(), d, 1);
    }
    for (NftElement e : p.deleteElements) {
      countRefs(e, d, -1);
    }
    for (NftElement e : p.addElements) {
      countRefs(e, d, 1);
    }
    return d;
  }

  private void commitPartial(
      NftObjects newBase, Map<ServicePortName, NftObjects> newPorts, Plan p) {
    NftObjects before = base;
    NftObjects after = newBase;
    for (Map.Entry<ServicePortName, NftObjects> e : newPorts.entrySet()) {
      NftObjects old = ports.get(e.getKey());
      if (old != null) {
        before = before.plus(old);
      }
      after = after.plus(e.getValue());
    }
    Map<String, NftChain> oldChains = byName(before.chains());
    Map<String, NftChain> newChains = byName(after.chains());
    // References: out with what the touched chains held, in with what they hold now.
    for (NftChain c : oldChains.values()) {
      NftChain cur = chains.get(c.name());
      if (cur != null) {
        countRefs(cur.rules(), refs, -1);
      }
    }
    for (NftChain c : newChains.values()) {
      countRefs(c.rules(), refs, 1);
      chains.put(c.name(), c);
      stale.remove(c.name());
    }
    for (String s : p.staleAfter.keySet()) {
      chains.put(s, NftChain.regular(s, List.of()));
      stale.put(s, p.staleAfter.get(s));
    }
    for (String s : p.deleteStale) {
      chains.remove(s);
      stale.remove(s);
      refs.remove(s);
    }
    for (NftSet s : p.deleteSets) {
      sets.remove(s.name());
      elements.remove(s.name());
    }
    for (NftSet s : p.addSets) {
      sets.put(s.name(), s);
    }
    for (NftElement e : p.deleteElements) {
      Map<String, NftElement> m = elements.get(e.set());
      if (m != null) {
        m.remove(e.keyText());
      }
      countRefs(e, refs, -1);
    }
    for (NftElement e : p.addElements) {
      elements.computeIfAbsent(e.set(), k -> new LinkedHashMap<>()).put(e.keyText(), e);
      countRefs(e, refs, 1);
    }
    base = newBase;
    for (Map.Entry<ServicePortName, NftObjects> e : newPorts.entrySet()) {
      NftObjects o = e.getValue();
      if (o.chains().isEmpty() && o.sets().isEmpty() && o.elements().isEmpty()) {
        ports.remove(e.getKey());
      } else {
        ports.put(e.getKey(), o);
      }
    }
  }

  // ---- transaction text ----

  /**
   * The transactions that load the new regular chains (and new sets their rules use) before the
   * switch, when that is more than {@link #batchLines} lines; empty otherwise. Base chains stay in
   * the switch: hooked, they would act at once.
   */
  private List<String> batches(Plan p) {
    int lines = 0;
    for (NftChain c : p.added) {
      lines += 1 + c.rules().size();
    }
    if (lines <= batchLines) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    NftTransaction tx = new NftTransaction(family, table);
    if (p.tableComment != null) {
      tx.table(NftVerb.ADD, p.tableComment);
    }
    for (NftSet s : p.addSets) {
      if (p.newSets.contains(s.name())) {
        tx.set(NftVerb.ADD, s);
      }
    }
    List<NftChain> regular = p.added.stream().filter(c -> c.base().isEmpty()).toList();
    for (NftChain c : regular) {
      tx.chain(NftVerb.ADD, c.declaration());
      tx = flushIfFull(tx, out);
    }
    for (NftChain c : regular) {
      for (NftRule r : c.rules()) {
        tx.addRule(r);
      }
      tx = flushIfFull(tx, out);
    }
    if (!tx.isEmpty()) {
      out.add(tx.text());
    }
    return out;
  }

  private NftTransaction flushIfFull(NftTransaction tx, List<String> out) {
    if (tx.size() < batchLines) {
      return tx;
    }
    out.add(tx.text());
    return new NftTransaction(family, table);
  }

  /** The transaction that makes the table what it should be (after any batches). */
  private String switchTransaction(Plan p, boolean batched, boolean withStale) {
    NftTransaction tx = new NftTransaction(family, table);
    if (p.tableComment != null) {
      tx.table(NftVerb.ADD, p.tableComment);
    }
    for (NftChain c : p.redeclare) {
      NftChain bare = NftChain.regular(c.name(), List.of());
      tx.chain(NftVerb.FLUSH, bare);
      tx.chain(NftVerb.DELETE, bare);
      tx.chain(NftVerb.ADD, c.declaration());
    }
    for (NftChain c : p.added) {
      if (!batched || c.base().isPresent()) {
        tx.chain(NftVerb.ADD, c.declaration());
      }
    }
    for (NftChain c : p.changed) {
      tx.chain(NftVerb.FLUSH, c.declaration());
    }
    for (String s : p.flushStale) {
      tx.chain(NftVerb.FLUSH, NftChain.regular(s, List.of()));
    }
    for (NftSet s : p.deleteSets) {
      tx.set(NftVerb.DELETE, s);
    }
    for (NftSet s : p.addSets) {
      if (!batched || !p.newSets.contains(s.name())) {
        tx.set(NftVerb.ADD, s);
      }
    }
    for (NftElement e : p.deleteElements) {
      tx.element(NftVerb.DELETE, e);
    }
    for (NftElement e : p.addElements) {
      tx.element(NftVerb.ADD, e);
    }
    for (NftChain c : p.added) {
      if (!batched || c.base().isPresent()) {
        c.rules().forEach(tx::addRule);
      }
    }
    for (NftChain c : p.redeclare) {
      c.rules().forEach(tx::addRule);
    }
    for (NftChain c : p.changed) {
      c.rules().forEach(tx::addRule);
    }
    if (withStale) {
      for (String s : p.deleteStale) {
        tx.chain(NftVerb.DELETE, NftChain.regular(s, List.of()));
      }
    }
    return tx.text();
  }

  // ---- helpers ----

  /** Chains that use a recreated set must be refilled: the set cannot go while rules use it. */
  private void rewriteUsers(Plan p, Set<String> recreated, Iterable<NftChain> desired) {
    if (recreated.isEmpty()) {
      return;
    }
    Set<String> planned = new HashSet<>();
    p.added.forEach(c -> planned.add(c.name()));
    p.changed.forEach(c -> planned.add(c.name()));
    p.redeclare.forEach(c -> planned.add(c.name()));
    for (NftChain c : desired) {
      if (planned.contains(c.name())) {
        continue;
      }
      for (NftRule r : c.rules()) {
        if (recreated.stream().anyMatch(s -> r.body().contains("@" + s))) {
          p.changed.add(c);
          break;
        }
      }
    }
  }

  private boolean due(long since, long now) {
    return now - since >= STALE_CHAIN_DELAY.toNanos();
  }

  private static Map<String, NftChain> byName(List<NftChain> list) {
    Map<String, NftChain> out = new LinkedHashMap<>();
    for (NftChain c : list) {
      out.putIfAbsent(c.name(), c);
    }
    return out;
  }

  private static Map<String, Map<String, NftElement>> elementsBySet(List<NftElement> list) {
    Map<String, Map<String, NftElement>> out = new LinkedHashMap<>();
    for (NftElement e : list) {
      out.computeIfAbsent(e.set(), k -> new LinkedHashMap<>()).putIfAbsent(e.keyText(), e);
    }
    return out;
  }

  private static void countRefs(NftObjects o, Map<String, Integer> into, int sign) {
    for (NftChain c : o.chains()) {
      countRefs(c.rules(), into, sign);
    }
    for (NftElement e : o.elements()) {
      countRefs(e, into, sign);
    }
  }

  private static void countRefs(List<NftRule> rules, Map<String, Integer> into, int sign) {
    for (NftRule r : rules) {
      countRefs(r.body(), into, sign);
    }
  }

  private static void countRefs(NftElement e, Map<String, Integer> into, int sign) {
    for (String v : e.value()) {
      countRefs(v, into, sign);
    }
  }

  private static void countRefs(String text, Map<String, Integer> into, int sign) {
    if (!text.contains("jump ") && !text.contains("goto ")) {
      return;
    }
    Matcher m = REF.matcher(text);
    while (m.find()) {
      into.merge(m.group(1), sign, Integer::sum);
    }
  }

  private void forget() {
    known = false;
    ports.clear();
    chains.clear();
    sets.clear();
    elements.clear();
    refs.clear();
  }

  /**
   * Above this many chains the base chains' rules are left to the periodic full sync: nft 1.0.6
   * fetches the whole table to list one chain (11 ms per base chain at 2,216 chains, 2.7 s at
   * 110k), and the loop calls {@link #missing} every sync period, holding changes back meanwhile.
   */
  static final int RULE_CHECK_MAX_CHAINS = 2_500;

  /**
   * What is missing of the table every sync relies on: the table and its base chains (one listing
   * of chain declarations, cheap at any size) and, for tables up to {@link #RULE_CHECK_MAX_CHAINS}
   * chains, the rules of the base chains.
   */
  @Override
  public synchronized List<String> missing() {
    if (!known) {
      return List.of();
    }
    Optional<Map<String, NftKernel.Chain>> declared = kernel.chains(family, table);
    if (declared.isEmpty()) {
      return List.of("table " + family + " " + table);
    }
    List<String> out = new ArrayList<>();
    boolean rules = chains.size() <= RULE_CHECK_MAX_CHAINS;
    for (NftChain c : base.chains()) {
      if (c.base().isEmpty()) {
        continue;
      }
      NftKernel.Chain d = declared.get().get(c.name());
      if (d == null || d.base().isEmpty()) {
        out.add("chain " + c.name());
        continue;
      }
      if (!rules) {
        continue;
      }
      Optional<NftKernel.Chain> k = kernel.chain(family, table, c.name());
      if (k.isEmpty()) {
        out.add("chain " + c.name());
      } else if (k.get().rules().size() != c.rules().size()) {
        out.add("rules of chain " + c.name());
      }
    }
    return out;
  }

  /** Deletes the tables nftables mode creates. */
  @Override
  public synchronized void cleanup() {
    forget();
    stale.clear();
    removeTables(kernel);
  }

  /**
   * Deletes upstream's {@code ip kube-proxy} and {@code ip6 kube-proxy} tables (what starting
   * iptables or IPVS mode removes); true when there was one.
   */
  public static boolean removeTables(NftKernel kernel) {
    boolean any = false;
    for (List<String> t : TABLES) {
      try {
        if (kernel.deleteTable(t.get(0), t.get(1))) {
          LOG.info("deleted nftables table {} {}", t.get(0), t.get(1));
          any = true;
        }
      } catch (RuntimeException e) {
        // No nft, or no nf_tables: there is nothing nftables mode could have left.
        LOG.debug("could not delete table {} {}: {}", t.get(0), t.get(1), e.getMessage());
      }
    }
    return any;
  }

  /**
   * What starting nftables mode removes, as upstream's cleanupLeftovers does: IPVS mode's state
   * (only when there is a sign of it), then iptables mode's chains and jump rules.
   */
  public static void removeLeftoversOfOtherModes(IptablesKernel iptables, IpvsKernel ipvs) {
    // IPVS first: its chains share names with iptables mode's and refer to its ipsets.
    IpvsProxier.removeLeftoversForOtherMode(ipvs, iptables);
    new IptablesProxier(
            iptables,
            ProxyConfig.defaults("", "", LocalTrafficDetector.none()),
            IptablesOptions.defaults())
        .cleanup();
  }

  @Override
  public Map<ServicePortName, Exclusion> excluded() {
    return Map.of();
  }
}
