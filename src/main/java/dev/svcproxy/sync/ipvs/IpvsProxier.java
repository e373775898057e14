package dev.svcproxy.sync.ipvs;

import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.ipvs.IpvsadmCodec;
import dev.svcproxy.ipvs.VirtualServer;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.RuleCanon;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.netfilter.TableRule;
import dev.svcproxy.render.iptables.ChainNames;
import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.render.ipvs.IpvsOptions;
import dev.svcproxy.render.ipvs.IpvsRenderer;
import dev.svcproxy.render.ipvs.IpvsSets;
import dev.svcproxy.render.ipvs.IpvsState;
import dev.svcproxy.sync.Exclusion;
import dev.svcproxy.sync.Proxier;
import dev.svcproxy.sync.SyncException;
import dev.svcproxy.sync.SyncResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies the IPVS mode's desired state (kube-ipvs0 addresses, IPVS services, ipsets, iptables
 * chains, sysctls) the way upstream's IPVS proxier does, in batches, writing only what differs from
 * what the kernel holds: read from the kernel on a full sync, trusted from the last sync otherwise.
 */
public final class IpvsProxier implements Proxier {
  private static final Logger LOG = LoggerFactory.getLogger(IpvsProxier.class);

  /** Upstream's interval between retries of the draining real servers' deletion (1 min). */
  public static final Duration UPSTREAM_DRAIN_RETRY = Duration.ofMinutes(1);

  /** The sets upstream's IPVS mode creates (ipsetInfo), which cleanup destroys. */
  public static final List<String> IPSETS =
      IpvsSets.ALL.stream().map(IpvsSets.SetInfo::name).toList();

  /** The chains upstream's IPVS mode owns (iptablesCleanupChains), by table. */
  public static final Map<String, List<String>> CHAINS =
      Map.of("nat", IpvsRenderer.NAT_CHAINS, "filter", IpvsRenderer.FILTER_CHAINS);

  private static final List<String> BUILTIN =
      List.of("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING");

  private static final String DUMMY = IpvsState.DUMMY_DEVICE;

  private final IpvsKernel ipvs;
  private final IptablesKernel iptables;
  private final Function<ProxyState, IpvsState> renderer;
  private final IpvsOptions options;
  private final Duration drainRetry;
  private final LongSupplier nanoClock;

  /** What the kernel holds after the last successful sync; null when unknown (next sync reads). */
  private IpvsTable kernelServices;

  private Map<String, Set<String>> kernelSets;
  private Set<String> kernelAddresses;
  private String appliedIptables;
  private List<TableRule> appliedJumps = List.of();
  private Set<String> draining = new LinkedHashSet<>();
  private boolean leftoversRemoved;

  /** The kernel's `ipvsadm -S -n` lines the last read could not understand. */
  private List<String> unreadable = List.of();

  private long lastDrainRetry;

  /**
   * @param renderer the pure IPVS renderer (render.ipvs.IpvsRenderer's render, bound to the
   *     configuration)
   * @param drainRetry how often real servers at weight 0 are checked for drained connections
   *     (upstream: {@link #UPSTREAM_DRAIN_RETRY})
   */
  public IpvsProxier(
      IpvsKernel ipvs,
      IptablesKernel iptables,
      Function<ProxyState, IpvsState> renderer,
      IpvsOptions options,
      Duration drainRetry,
      LongSupplier nanoClock) {
    this.ipvs = ipvs;
    this.iptables = iptables;
    this.renderer = renderer;
    this.options = options;
    this.drainRetry = drainRetry;
    this.nanoClock = nanoClock;
    this.lastDrainRetry = nanoClock.getAsLong();
  }

  public IpvsProxier(
      IpvsKernel ipvs,
      IptablesKernel iptables,
      Function<ProxyState, IpvsState> renderer,
      IpvsOptions options) {
    this(ipvs, iptables, renderer, options, UPSTREAM_DRAIN_RETRY, System::nanoTime);
  }

  @Override
  public String name() {
    return "ipvs";
  }

  /** Real servers at weight 0 waiting for their connections to end ("TCP vip:port/rip:port"). */
  public synchronized Set<String> draining() {
    return Set.copyOf(draining);
  }

  @Override
  public synchronized SyncResult sync(ProxyState state, boolean full, Set<String> changed) {
    List<String> refused = new ArrayList<>();
    IpvsState desired = IpvsSets.withoutRefused(renderer.apply(state), refused);
    // Upstream logs each entry `ipset add` refuses, at every sync.
    refused.forEach(r -> LOG.warn("{}", r));
    boolean read = full || kernelServices == null;
    try {
      return apply(desired, read);
    } catch (RuntimeException e) {
      forget();
      throw e instanceof SyncException
          ? e
          : new SyncException("ipvs sync failed: " + e.getMessage());
    }
  }

  private SyncResult apply(IpvsState desired, boolean read) {
    boolean firstSync = kernelServices == null && !leftoversRemoved;
    Optional<List<String>> addrs;
    if (read) {
      IpvsadmCodec.Result read1 = ipvs.servicesRead();
      kernelServices = read1.table();
      unreadable = read1.warnings().stream().map(Object::toString).toList();
      kernelSets = new LinkedHashMap<>();
      for (IpsetCodec.IpSet s : ipvs.ipsets()) {
        kernelSets.put(s.name(), new LinkedHashSet<>(s.members()));
      }
      addrs = ipvs.addresses(DUMMY);
      kernelAddresses = addrs.map(a -> (Set<String>) new LinkedHashSet<>(a)).orElse(null);
      applySysctls(desired);
    }
    List<String> errors = new ArrayList<>();
    List<String> warnings = new ArrayList<>();
    int[] counts = new int[4];

    // Addresses first, as upstream binds each service's address when it syncs the service.
    List<String> ipLines = new ArrayList<>();
    if (kernelAddresses == null) {
      // Created DOWN, as upstream leaves it; NOARP comes with the dummy type.
      ipLines.add("link add " + DUMMY + " type dummy");
    }
    Set<String> haveAddrs = kernelAddresses == null ? Set.of() : kernelAddresses;
    for (String a : desired.dummyAddresses()) {
      if (!haveAddrs.contains(a)) {
        ipLines.add("address add " + a + "/32 dev " + DUMMY);
      }
    }
    for (String a : haveAddrs) {
      if (!desired.dummyAddresses().contains(a)) {
        ipLines.add("address del " + a + "/32 dev " + DUMMY);
      }
    }
    if (!ipLines.isEmpty()) {
      CommandResult r = ipvs.ipBatch(ipLines);
      counts[0] = ipLines.size();
      if (!r.ok()) {
        throw new SyncException("ip -batch refused: " + r.firstErrorLine());
      }
    }
    kernelAddresses = new LinkedHashSet<>(desired.dummyAddresses());

    // IPVS services and real servers, in one ipvsadm -R.
    IpvsTable before = kernelServices;
    Map<String, Map<String, Integer>> conns = new LinkedHashMap<>();
    ServiceDiff.Plan plan =
        ServiceDiff.diff(
            before,
            desired.services(),
            draining,
            this::excluded,
            // Read once, and only when a TCP real server must go.
            () -> conns.computeIfAbsent("", k -> ipvs.connections()));
    if (!plan.lines().isEmpty()) {
      CommandResult r = ipvs.restore(plan.lines());
      counts[1] = plan.lines().size();
      if (!r.ok() || !r.stderr().isBlank()) {
        errors.add("ipvsadm -R refused: " + r.stderr().strip().replace('\n', ';'));
      }
    }
    kernelServices = plan.after();
    draining = new LinkedHashSet<>(plan.terminating());

    // ipsets: create the missing, then delete and add entries (upstream's syncIPSetEntries deletes
    // first), compared in the form the kernel saves them ("10.0.0.1" for "10.0.0.1/32").
    List<String> setLines = new ArrayList<>();
    List<String> dels = new ArrayList<>();
    List<String> adds = new ArrayList<>();
    // Per line of the restore: the set and kernel-form element it adds or deletes.
    List<String[]> addOps = new ArrayList<>();
    List<String[]> delOps = new ArrayList<>();
    Set<String> desiredSets = new HashSet<>();
    Map<String, Set<String>> applied = new LinkedHashMap<>();
    for (IpsetCodec.IpSet s : desired.ipsets()) {
      desiredSets.add(s.name());
      Set<String> have = kernelSets.get(s.name());
      if (have == null) {
        String create = IpsetCodec.print(List.of(withoutEntries(s))).strip();
        setLines.add(create + " -exist");
        have = Set.of();
      }
      Map<String, String> haveByForm = new LinkedHashMap<>();
      for (String e : have) {
        haveByForm.put(kernelForm(s.type(), e), e);
      }
      Set<String> want = new LinkedHashSet<>();
      for (IpsetCodec.Entry e : s.entries()) {
        String form = kernelForm(s.type(), e.element());
        if (want.add(form) && !haveByForm.containsKey(form)) {
          IpsetCodec.Entry k = new IpsetCodec.Entry(form, e.options());
          String add =
              IpsetCodec.print(
                      List.of(new IpsetCodec.IpSet(s.name(), s.type(), s.options(), List.of(k))))
                  .lines()
                  .skip(1)
                  .findFirst()
                  .orElseThrow();
          adds.add(add + " -exist");
          addOps.add(new String[] {s.name(), form});
        }
      }
      for (Map.Entry<String, String> e : haveByForm.entrySet()) {
        if (!want.contains(e.getKey())) {
          dels.add("del " + s.name() + " " + e.getValue() + " -exist");
          delOps.add(new String[] {s.name(), e.getKey()});
        }
      }
      applied.put(s.name(), want);
    }
    int creates = setLines.size();
    setLines.addAll(dels);
    setLines.addAll(adds);
    List<String[]> ops = new ArrayList<>();
    delOps.forEach(o -> ops.add(new String[] {"del", o[0], o[1]}));
    addOps.forEach(o -> ops.add(new String[] {"add", o[0], o[1]}));
    if (!setLines.isEmpty()) {
      counts[2] = setLines.size();
      for (int i : ipsetRestoreSkippingRefused(setLines, creates)) {
        String[] op = ops.get(i - creates);
        if (op[0].equals("add")) {
          applied.get(op[1]).remove(op[2]);
        } else {
          applied.get(op[1]).add(op[2]);
        }
        warnings.add("ipset refused: " + setLines.get(i));
      }
    }
    kernelSets.putAll(applied);

    // iptables: the IPVS-mode chains in one restore, rewritten on every full sync as upstream
    // does, and when they changed.
    String text = desired.iptables().print();
    if (read || !text.equals(appliedIptables)) {
      CommandResult r = iptables.restore(text);
      counts[3]++;
      if (!r.ok()) {
        throw new SyncException("iptables-restore refused: " + r.firstErrorLine(), 1);
      }
      appliedIptables = text;
    }
    if (read || !desired.jumps().equals(appliedJumps)) {
      ensureJumps(desired.jumps());
      appliedJumps = desired.jumps();
    }

    // Sets no longer wanted go once no rule refers to them.
    List<String> stale = new ArrayList<>();
    for (String name : List.copyOf(kernelSets.keySet())) {
      if (IPSETS.contains(name) && !desiredSets.contains(name)) {
        stale.add("flush " + name);
        stale.add("destroy " + name);
        kernelSets.remove(name);
      }
    }
    if (!stale.isEmpty()) {
      CommandResult r = ipvs.ipsetRestore(stale);
      if (!r.ok()) {
        LOG.warn("could not destroy stale ipsets: {}", r.firstErrorLine());
      }
    }
    if (firstSync) {
      removeIptablesModeLeftovers(iptables, desired.iptables(), desired.jumps());
      leftoversRemoved = true;
    }
    retryDrainingIfDue();
    if (!errors.isEmpty()) {
      throw new SyncException(String.join("; ", errors));
    }
    int services = desired.services().services().size();
    return () ->
        services
            + " virtual servers, "
            + counts[1]
            + " ipvsadm lines, "
            + counts[2]
            + " ipset lines, "
            + counts[0]
            + " address changes, "
            + draining.size()
            + " draining"
            + (warnings.isEmpty() ? "" : ", warnings: " + String.join("; ", warnings));
  }

  /** The element as the kernel saves it; as given when ipset would refuse or expand it. */
  private static String kernelForm(String type, String element) {
    try {
      return IpsetCodec.kernelForm(type, element);
    } catch (IllegalArgumentException e) {
      return element;
    }
  }

  private static final Pattern IPSET_ERROR_LINE = Pattern.compile("Error in line (\\d+):");

  /**
   * Runs `ipset restore` of {@code lines}; when it stops at a refused entry line ("Error in line
   * N", the lines before it applied), logs it and goes on with the lines after it, as upstream's
   * one-by-one adds do. A refused create line, or a failure naming no line, fails the sync.
   *
   * @return the indexes of the refused lines
   */
  private List<Integer> ipsetRestoreSkippingRefused(List<String> lines, int creates) {
    List<Integer> refused = new ArrayList<>();
    int from = 0;
    while (from < lines.size()) {
      CommandResult r = ipvs.ipsetRestore(lines.subList(from, lines.size()));
      if (r.ok()) {
        break;
      }
      Matcher m = IPSET_ERROR_LINE.matcher(r.stderr());
      int bad = m.find() ? from + Integer.parseInt(m.group(1)) - 1 : -1;
      if (bad < Math.max(from, creates) || bad >= lines.size()) {
        throw new SyncException("ipset restore refused: " + r.firstErrorLine());
      }
      LOG.warn("ipset refused {}, skipping it: {}", lines.get(bad), r.firstErrorLine());
      refused.add(bad);
      from = bad + 1;
    }
    return refused;
  }

  private static IpsetCodec.IpSet withoutEntries(IpsetCodec.IpSet s) {
    return new IpsetCodec.IpSet(s.name(), s.type(), s.options(), List.of());
  }

  /** Whether a virtual server the kernel holds is outside our reach (--ipvs-exclude-cidrs). */
  private boolean excluded(VirtualServer vs) {
    if (vs.kind() == VirtualServer.Kind.FWMARK || !Ip.isIpv4(vs.address())) {
      // Upstream leaves the other family alone; fwmark services are not kube-proxy's either.
      return vs.kind() == VirtualServer.Kind.FWMARK || Ip.isIpv6(vs.address());
    }
    for (Cidr c : options.excludeCidrs()) {
      if (c.contains(vs.address())) {
        return true;
      }
    }
    return false;
  }

  private void applySysctls(IpvsState desired) {
    List<String> keys = desired.sysctls().stream().map(IpvsState.Sysctl::key).toList();
    Map<String, String> have = keys.isEmpty() ? Map.of() : ipvs.sysctls(keys);
    Map<String, String> set = new LinkedHashMap<>();
    for (IpvsState.Sysctl s : desired.sysctls()) {
      if (!s.value().equals(have.get(s.key()))) {
        set.put(s.key(), s.value());
      }
    }
    ipvs.setSysctls(set);
    if (options.setsTimeouts()) {
      int[] want = {
        options.tcpTimeoutSeconds(), options.tcpFinTimeoutSeconds(), options.udpTimeoutSeconds()
      };
      int[] have3 = ipvs.timeouts().orElse(new int[] {-1, -1, -1});
      boolean differs = false;
      for (int i = 0; i < 3; i++) {
        differs |= want[i] != 0 && want[i] != have3[i];
      }
      if (differs) {
        ipvs.setTimeouts(want[0], want[1], want[2]);
      }
    }
  }

  /** Inserts the jump rules the built-in chains lack, in one restore per table. */
  private void ensureJumps(List<TableRule> jumps) {
    Map<String, List<String>> insert = new LinkedHashMap<>();
    Map<String, Set<String>> have = new LinkedHashMap<>();
    for (TableRule j : jumps) {
      String chain = j.table() + " " + j.rule().chain();
      Set<String> present =
          have.computeIfAbsent(chain, k -> canonicalRules(j.table(), j.rule().chain()));
      if (!present.contains(RuleCanon.key(j.rule()))) {
        insert
            .computeIfAbsent(j.table(), k -> new ArrayList<>())
            .add(
                "-I "
                    + j.rule().chain()
                    + " 1"
                    + j.rule().print().substring(3 + j.rule().chain().length()));
      }
    }
    for (Map.Entry<String, List<String>> e : insert.entrySet()) {
      String in = "*" + e.getKey() + "\n" + String.join("\n", e.getValue()) + "\nCOMMIT\n";
      CommandResult r = iptables.restore(in);
      if (!r.ok()) {
        throw new SyncException("iptables-restore of jump rules refused: " + r.firstErrorLine());
      }
    }
  }

  private Set<String> canonicalRules(String table, String chain) {
    Set<String> out = new HashSet<>();
    for (String l : iptables.listRules(table, chain).orElse(List.of())) {
      try {
        out.add(RuleCanon.key(IptablesCodec.parseRule(l)));
      } catch (RuntimeException e) {
        // Another tool's rule this codec cannot read; it is not one of ours.
      }
    }
    return out;
  }

  /**
   * Deletes the draining real servers whose connections have ended; called by the sync when the
   * retry interval has passed, and by a timer every interval (as upstream's goroutine does).
   */
  public synchronized void retryDraining() {
    lastDrainRetry = nanoClock.getAsLong();
    if (draining.isEmpty() || kernelServices == null) {
      return;
    }
    ServiceDiff.Plan plan = ServiceDiff.retryDraining(kernelServices, draining, ipvs.connections());
    if (!plan.lines().isEmpty()) {
      CommandResult r = ipvs.restore(plan.lines());
      if (!r.ok() || !r.stderr().isBlank()) {
        LOG.warn("could not delete drained real servers: {}", r.stderr().strip());
        forget();
        return;
      }
    }
    kernelServices = plan.after();
    draining = new LinkedHashSet<>(plan.terminating());
  }

  private void retryDrainingIfDue() {
    if (nanoClock.getAsLong() - lastDrainRetry >= drainRetry.toNanos()) {
      retryDraining();
    }
  }

  /** The kernel state is unknown: the next sync reads it all (the draining set stays). */
  private void forget() {
    kernelServices = null;
    kernelSets = null;
    kernelAddresses = null;
    appliedIptables = null;
  }

  /**
   * What is missing of what the last sync left, by cheap checks run at every sync period (upstream
   * re-reads the kernel at every sync, so an `ipvsadm -C` or `ipset flush` is repaired within one):
   * kube-ipvs0 and its address count, the number of virtual and real servers, the entry count of
   * every set, the jump rules from the built-in chains (a flushed or deleted chain of ours takes
   * its jump with it), and lines of the IPVS table the last read could not understand. Empty before
   * the first sync.
   */
  @Override
  public synchronized List<String> missing() {
    List<String> out = new ArrayList<>();
    if (kernelServices == null) {
      return out;
    }
    unreadable.forEach(w -> out.add("unreadable IPVS table line " + w));
    Optional<List<String>> addrs = ipvs.addresses(DUMMY);
    if (addrs.isEmpty()) {
      out.add(DUMMY);
    } else if (kernelAddresses != null && addrs.get().size() != kernelAddresses.size()) {
      out.add(DUMMY + " addresses (" + addrs.get().size() + " of " + kernelAddresses.size() + ")");
    }
    int[] have = countServices(ipvs.runner().run(List.of("ipvsadm", "-S", "-n")).stdout());
    int reals = kernelServices.services().stream().mapToInt(s -> s.reals().size()).sum();
    if (have[0] != kernelServices.services().size() || have[1] != reals) {
      out.add(
          "IPVS virtual/real servers ("
              + have[0]
              + "/"
              + have[1]
              + " of "
              + kernelServices.services().size()
              + "/"
              + reals
              + ")");
    }
    if (kernelSets != null) {
      Map<String, Integer> sizes = ipvs.ipsetSizes();
      for (Map.Entry<String, Set<String>> e : kernelSets.entrySet()) {
        if (!IPSETS.contains(e.getKey())) {
          // Another tool's set.
          continue;
        }
        Integer n = sizes.get(e.getKey());
        if (n == null || n != e.getValue().size()) {
          out.add(
              "ipset "
                  + e.getKey()
                  + " ("
                  + (n == null ? "gone" : n + " of " + e.getValue().size() + " entries")
                  + ")");
        }
      }
    }
    Map<String, Set<String>> haveRules = new LinkedHashMap<>();
    for (TableRule j : appliedJumps) {
      Set<String> present =
          haveRules.computeIfAbsent(
              j.table() + " " + j.rule().chain(), k -> canonicalRules(j.table(), j.rule().chain()));
      if (!present.contains(RuleCanon.key(j.rule()))) {
        out.add(j.toString());
      }
    }
    return out;
  }

  /** The virtual ("-A") and real ("-a") server lines of `ipvsadm -S -n` text. */
  private static int[] countServices(String save) {
    int[] n = new int[2];
    for (String l : save.lines().toList()) {
      if (l.startsWith("-A ")) {
        n[0]++;
      } else if (l.startsWith("-a ")) {
        n[1]++;
      }
    }
    return n;
  }

  /** Removes everything IPVS mode installs, as upstream's cleanup does. */
  @Override
  public synchronized void cleanup() {
    forget();
    appliedJumps = List.of();
    draining.clear();
    cleanupAll(ipvs, iptables);
  }

  @Override
  public Map<ServicePortName, Exclusion> excluded() {
    return Map.of();
  }

  /**
   * Upstream's cleanupLeftovers: flushes the whole IPVS table, deletes kube-ipvs0, unlinks and
   * deletes the IPVS-mode chains, then destroys the IPVS-mode sets (a set in use cannot go).
   */
  public static void cleanupAll(IpvsKernel ipvs, IptablesKernel iptables) {
    CommandResult flush = ipvs.runner().run(List.of("ipvsadm", "-C"));
    if (!flush.ok()) {
      LOG.debug("ipvsadm -C: {}", flush.firstErrorLine());
    }
    ipvs.deleteLink(DUMMY);
    for (String table : List.of("nat", "filter")) {
      Set<String> ours = new LinkedHashSet<>(CHAINS.get(table));
      // kubelet's rules may still use KUBE-MARK-MASQ; it then stays, and must not stop the rest.
      ours.remove(ChainNames.MARK_MASQ);
      deleteChains(iptables, table, ours::contains);
    }
    deleteChains(iptables, "nat", ChainNames.MARK_MASQ::equals);
    Set<String> present = ipvs.ipsetNames();
    List<String> destroy = new ArrayList<>();
    for (String s : IPSETS) {
      if (present.contains(s)) {
        destroy.add("destroy " + s);
      }
    }
    if (!destroy.isEmpty()) {
      CommandResult r = ipvs.ipsetRestore(destroy);
      if (!r.ok()) {
        LOG.warn("could not destroy every IPVS-mode ipset: {}", r.firstErrorLine());
      }
    }
  }

  /**
   * What upstream removes when another mode starts on a node IPVS mode ran on: all of it, but only
   * when there is a sign of it (kube-ipvs0 or an IPVS-mode set), so that a node that never ran IPVS
   * mode is not touched.
   */
  public static boolean removeLeftoversForOtherMode(IpvsKernel ipvs, IptablesKernel iptables) {
    boolean link = ipvs.linkExists(DUMMY);
    Set<String> sets = ipvs.ipsetNames();
    if (!link && IPSETS.stream().noneMatch(sets::contains)) {
      return false;
    }
    LOG.info("removing IPVS-mode leftovers (kube-ipvs0, virtual servers, chains, ipsets)");
    cleanupAll(ipvs, iptables);
    return true;
  }

  /**
   * Deletes the chains of {@code table} matching {@code ours} and the rules of built-in chains that
   * jump to them, in one restore; nothing when there are none.
   */
  static void deleteChains(
      IptablesKernel iptables, String table, java.util.function.Predicate<String> ours) {
    deleteChains(iptables, table, ours, r -> false);
  }

  /**
   * As {@link #deleteChains(IptablesKernel, String, java.util.function.Predicate)}, also deleting
   * the built-in chains' rules {@code alsoDelete} accepts.
   */
  static void deleteChains(
      IptablesKernel iptables,
      String table,
      java.util.function.Predicate<String> ours,
      java.util.function.Predicate<Rule> alsoDelete) {
    Ruleset saved;
    try {
      saved = iptables.save(table);
    } catch (RuntimeException e) {
      LOG.debug("iptables-save -t {}: {}", table, e.getMessage());
      return;
    }
    Optional<Table> t = saved.table(table);
    if (t.isEmpty()) {
      return;
    }
    List<String> chains = new ArrayList<>();
    for (Line.ChainDecl c : t.get().chainDecls()) {
      if (!c.builtin() && ours.test(c.name())) {
        chains.add(c.name());
      }
    }
    List<Rule> unlink = new ArrayList<>();
    for (Rule r : t.get().rules()) {
      if (BUILTIN.contains(r.chain()) && (ours.test(r.target()) || alsoDelete.test(r))) {
        unlink.add(r);
      }
    }
    if (chains.isEmpty() && unlink.isEmpty()) {
      return;
    }
    StringBuilder in = new StringBuilder("*").append(table).append('\n');
    chains.forEach(c -> in.append(':').append(c).append(" - [0:0]\n"));
    unlink.forEach(r -> in.append("-D").append(r.print().substring(2)).append('\n'));
    chains.forEach(c -> in.append("-X ").append(c).append('\n'));
    in.append("COMMIT\n");
    CommandResult res = iptables.restore(in.toString());
    if (!res.ok()) {
      LOG.warn("could not delete {} chains {}: {}", table, chains, res.firstErrorLine());
    }
  }

  /**
   * Upstream's iptables-mode leftovers that IPVS mode does not use: the per-service chains, the
   * iptables-mode shared chains, the canary, and the jumps to them; IPVS mode's own chains (which
   * share some names) stay.
   */
  static void removeIptablesModeLeftovers(
      IptablesKernel iptables, Ruleset desired, List<TableRule> desiredJumps) {
    Set<String> iptablesMode =
        Set.of(
            ChainNames.SERVICES,
            ChainNames.EXTERNAL_SERVICES,
            ChainNames.NODEPORTS,
            ChainNames.POSTROUTING,
            ChainNames.FORWARD,
            ChainNames.PROXY_FIREWALL,
            ChainNames.CANARY);
    for (String table : List.of("nat", "filter", "mangle")) {
      Set<String> declared = new HashSet<>();
      desired.table(table).ifPresent(t -> t.chainDecls().forEach(c -> declared.add(c.name())));
      // iptables mode's own jumps into chains IPVS mode keeps (KUBE-SERVICES, ...) differ from IPVS
      // mode's; they go too, or the chains would be entered twice.
      Set<String> keep = new HashSet<>();
      desiredJumps.stream()
          .filter(j -> j.table().equals(table))
          .forEach(j -> keep.add(canonical(j.rule())));
      Set<String> stale = new HashSet<>();
      JumpRules.KUBE_PROXY.stream()
          .filter(j -> j.table().equals(table))
          .map(j -> canonical(j.rule()))
          .filter(k -> !keep.contains(k))
          .forEach(stale::add);
      deleteChains(
          iptables,
          table,
          c -> !declared.contains(c) && (ChainNames.isServiceChain(c) || iptablesMode.contains(c)),
          r -> stale.contains(canonical(r)));
    }
  }

  /** The rule's chain and canonical form (RuleCanon's key leaves the chain out). */
  private static String canonical(Rule r) {
    try {
      return r.chain() + " " + RuleCanon.key(r);
    } catch (RuntimeException e) {
      return "";
    }
  }
}
