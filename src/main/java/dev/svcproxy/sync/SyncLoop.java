package dev.svcproxy.sync;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the kernel equal to the latest ProxyState through any {@link Proxier}: coalesces updates,
 * waits at least the minimum interval between syncs, syncs in full at start, after a failure, when
 * the canary vanishes and every full-sync period, and retries failures with backoff up to the sync
 * period.
 */
public final class SyncLoop implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SyncLoop.class);

  /** The intervals that govern the loop (upstream: 1 s, 30 s, 1 h). */
  public record Timing(Duration minSyncPeriod, Duration syncPeriod, Duration fullSyncPeriod) {
    public static Timing upstreamDefaults() {
      return new Timing(Duration.ofSeconds(1), Duration.ofSeconds(30), Duration.ofHours(1));
    }
  }

  private final Proxier proxier;
  private final Timing timing;
  private final Thread thread;

  private ProxyState desired;
  private ProxyState applied = ProxyState.empty();
  private final Set<String> changed = new HashSet<>();
  private final Set<String> pendingServices = new HashSet<>();
  private final Set<String> pendingEndpoints = new HashSet<>();
  private final List<SyncObserver> observers = new CopyOnWriteArrayList<>();
  private boolean pending;
  private boolean needFullSync = true;
  private boolean closed;
  private long lastSyncEnd = Long.MIN_VALUE / 2;
  private long lastFullSync = Long.MIN_VALUE / 2;
  private long retryAt = Long.MAX_VALUE;
  private long nextCanaryCheck;
  private int failures;
  private int successes;
  private String lastError;

  public SyncLoop(Proxier proxier, Timing timing) {
    this(proxier, timing, List.of());
  }

  /** A loop that tells {@code observers} what it queues and syncs. */
  public SyncLoop(Proxier proxier, Timing timing, List<SyncObserver> observers) {
    this.observers.addAll(observers);
    this.proxier = proxier;
    this.timing = timing;
    this.nextCanaryCheck = System.nanoTime() + timing.syncPeriod().toNanos();
    this.thread = new Thread(this::loop, "sync-loop");
    this.thread.setDaemon(true);
  }

  public void start() {
    thread.start();
  }

  /** Adds an observer; it sees updates and syncs from now on. */
  public void observe(SyncObserver observer) {
    observers.add(observer);
  }

  /** Hands the loop a new desired state; the next sync writes what changed. */
  public void update(ProxyState state) {
    SyncObserver.Queued queued;
    synchronized (this) {
      ProxyState base = desired == null ? applied : desired;
      Set<String> services = changed(base, state, SyncLoop::portsOf);
      Set<String> endpoints = changed(base, state, SyncLoop::endpointsOf);
      changed.addAll(services);
      changed.addAll(endpoints);
      pendingServices.addAll(services);
      pendingEndpoints.addAll(endpoints);
      desired = state;
      pending = true;
      notifyAll();
      if (services.isEmpty() && endpoints.isEmpty()) {
        return;
      }
      queued =
          new SyncObserver.Queued(
              services, endpoints, pendingServices, pendingEndpoints, Instant.now());
    }
    for (SyncObserver o : observers) {
      try {
        o.queued(queued);
      } catch (RuntimeException e) {
        LOG.warn("sync observer {} failed on an update: {}", o, e.toString());
      }
    }
  }

  public synchronized int successes() {
    return successes;
  }

  public synchronized String lastError() {
    return lastError;
  }

  /** Service ports left out of the kernel's rules because the kernel refused them. */
  public Map<ServicePortName, Exclusion> excluded() {
    return proxier.excluded();
  }

  /** Waits until {@code state} is what the kernel holds, or the timeout passes. */
  public synchronized boolean awaitApplied(ProxyState state, Duration timeout)
      throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (!applied.equals(state) || needFullSync) {
      long left = end - System.nanoTime();
      if (left <= 0) {
        return false;
      }
      wait(Math.max(1, left / 1_000_000));
    }
    return true;
  }

  /** Waits until at least {@code n} syncs have succeeded, or the timeout passes. */
  public synchronized boolean awaitSuccesses(int n, Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (successes < n) {
      long left = end - System.nanoTime();
      if (left <= 0) {
        return false;
      }
      wait(Math.max(1, left / 1_000_000));
    }
    return true;
  }

  private void loop() {
    while (true) {
      ProxyState state;
      boolean full;
      Set<String> toWrite;
      synchronized (this) {
        while (!closed && !due()) {
          long now = System.nanoTime();
          long wake = nextWake(now);
          try {
            wait(Math.max(1, (wake - now) / 1_000_000));
          } catch (InterruptedException e) {
            return;
          }
          checkCanary();
        }
        if (closed) {
          return;
        }
        state = desired == null ? applied : desired;
        long now = System.nanoTime();
        full = needFullSync || now - lastFullSync >= timing.fullSyncPeriod().toNanos();
        toWrite = Set.copyOf(changed);
        changed.clear();
        pendingServices.clear();
        pendingEndpoints.clear();
        pending = false;
        retryAt = Long.MAX_VALUE;
      }
      syncOnce(state, full, toWrite);
    }
  }

  private void syncOnce(ProxyState state, boolean full, Set<String> toWrite) {
    long start = System.nanoTime();
    Instant started = Instant.now();
    ProxyState previous;
    synchronized (this) {
      previous = applied;
    }
    try {
      SyncResult result = proxier.sync(state, full, toWrite);
      notifyObservers(
          new SyncObserver.Synced(
              full,
              previous,
              state,
              toWrite,
              result,
              null,
              started,
              Duration.ofNanos(System.nanoTime() - start)));
      synchronized (this) {
        applied = state;
        needFullSync = false;
        if (full) {
          lastFullSync = start;
        }
        failures = 0;
        successes++;
        lastError = null;
        lastSyncEnd = System.nanoTime();
        notifyAll();
      }
      int excluded = proxier.excluded().size();
      LOG.info(
          "synced {} ({} sync, {} services, {}{}) in {} ms",
          proxier.name(),
          full ? "full" : "partial",
          state.services().size(),
          result.summary(),
          excluded == 0 ? "" : ", " + excluded + " service ports excluded",
          (System.nanoTime() - start) / 1_000_000);
    } catch (RuntimeException e) {
      notifyObservers(
          new SyncObserver.Synced(
              full,
              previous,
              state,
              toWrite,
              null,
              e,
              started,
              Duration.ofNanos(System.nanoTime() - start)));
      synchronized (this) {
        failures++;
        // The change trackers were drained; only a full sync restores what was skipped.
        needFullSync = true;
        lastError = e.getMessage();
        long backoff =
            Math.min(
                timing.syncPeriod().toNanos(),
                timing.minSyncPeriod().toNanos() << Math.min(failures - 1, 20));
        retryAt = System.nanoTime() + Math.max(backoff, 1_000_000L);
        lastSyncEnd = System.nanoTime();
        notifyAll();
        LOG.error(
            "sync failed, keeping the last good rules; retrying in {} ms: {}",
            backoff / 1_000_000,
            e.getMessage());
      }
    }
  }

  private void notifyObservers(SyncObserver.Synced synced) {
    for (SyncObserver o : observers) {
      try {
        o.synced(synced);
      } catch (RuntimeException e) {
        LOG.warn("sync observer {} failed after a sync: {}", o, e.toString());
      }
    }
  }

  private boolean due() {
    long now = System.nanoTime();
    if (now < lastSyncEnd + timing.minSyncPeriod().toNanos()) {
      return false;
    }
    return pending
        || now >= retryAt
        || successes > 0 && now - lastFullSync >= timing.fullSyncPeriod().toNanos();
  }

  private long nextWake(long now) {
    long wake = Math.min(retryAt, nextCanaryCheck);
    if (successes > 0) {
      wake = Math.min(wake, lastFullSync + timing.fullSyncPeriod().toNanos());
    }
    if (pending) {
      wake = Math.min(wake, lastSyncEnd + timing.minSyncPeriod().toNanos());
    }
    return Math.max(wake, now + 1_000_000L);
  }

  private void checkCanary() {
    long now = System.nanoTime();
    if (now < nextCanaryCheck) {
      return;
    }
    nextCanaryCheck = now + timing.syncPeriod().toNanos();
    if (successes == 0) {
      return;
    }
    List<String> missing;
    try {
      missing = proxier.missing();
    } catch (RuntimeException e) {
      // A failed probe must not end the loop; the next check tries again.
      LOG.warn("could not check for flushed {} rules: {}", proxier.name(), e.getMessage());
      return;
    }
    if (!missing.isEmpty()) {
      LOG.warn(
          "{} rules were flushed or deleted outside svcproxy (missing: {}); full resync",
          proxier.name(),
          String.join("; ", missing));
      needFullSync = true;
      pending = true;
    }
  }

  /** Namespaced names ("ns/name") whose service ports or endpoints differ between a and b. */
  static Set<String> changedServices(ProxyState a, ProxyState b) {
    Set<String> out = changed(a, b, SyncLoop::portsOf);
    out.addAll(changed(a, b, SyncLoop::endpointsOf));
    return out;
  }

  private static Set<String> changed(
      ProxyState a, ProxyState b, Function<ProxyState, Map<String, List<Object>>> view) {
    Map<String, List<Object>> fa = view.apply(a);
    Map<String, List<Object>> fb = view.apply(b);
    Set<String> out = new HashSet<>();
    Set<String> all = new HashSet<>(fa.keySet());
    all.addAll(fb.keySet());
    for (String k : all) {
      if (!Objects.equals(fa.get(k), fb.get(k))) {
        out.add(k);
      }
    }
    return out;
  }

  private static Map<String, List<Object>> portsOf(ProxyState s) {
    Map<String, List<Object>> out = new HashMap<>();
    for (Map.Entry<ServicePortName, ServicePortInfo> e : s.services().entrySet()) {
      out.computeIfAbsent(e.getKey().namespacedName(), k -> new ArrayList<>()).add(e.getValue());
    }
    return out;
  }

  /**
   * Endpoints by the namespaced name of the service port they belong to; endpoints of ports no
   * Service declares yet count too, as upstream's endpoints tracker sees slices before Services.
   */
  private static Map<String, List<Object>> endpointsOf(ProxyState s) {
    Map<String, List<Object>> out = new HashMap<>();
    for (Map.Entry<ServicePortName, List<Endpoint>> e : new TreeMap<>(s.endpoints()).entrySet()) {
      out.computeIfAbsent(e.getKey().namespacedName(), k -> new ArrayList<>())
          .add(List.of(e.getKey(), e.getValue()));
    }
    return out;
  }

  @Override
  public void close() {
    synchronized (this) {
      closed = true;
      notifyAll();
    }
    try {
      thread.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
