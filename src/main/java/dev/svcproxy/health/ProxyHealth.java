package dev.svcproxy.health;

import dev.svcproxy.source.NodeInfo;
import dev.svcproxy.sync.SyncObserver;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * The proxy's health as upstream's ProxyHealthServer keeps it: per IP family the last successful
 * sync and the oldest change queued since; a family is unhealthy once such a change has waited
 * {@code healthTimeout} (2 x the sync period) or more. Fed by the sync loop as a {@link
 * SyncObserver}: a queued change is QueuedUpdate, a successful sync is Updated; a failed sync is
 * neither, so a kernel that keeps refusing syncs turns the proxy unhealthy.
 */
public final class ProxyHealth implements SyncObserver {

  /** An IP family, keyed in the JSON body as upstream's v1.IPFamily ("IPv4", "IPv6"). */
  public enum Family {
    IPV4("IPv4"),
    IPV6("IPv6");

    private final String key;

    Family(String key) {
      this.key = key;
    }

    public String key() {
      return key;
    }
  }

  /** One family's health, as upstream's ProxierHealth. */
  public record FamilyHealth(Instant lastUpdated, boolean healthy) {}

  /**
   * The proxy's health at {@code currentTime}, as upstream's ProxyHealth (without nodeEligible,
   * which only /healthz adds).
   *
   * @param lastUpdated the latest successful sync of any family; Go's zero time when none yet
   * @param status per family that has synced at least once, keyed "IPv4"/"IPv6"
   */
  public record Health(
      Instant lastUpdated,
      Instant currentTime,
      boolean healthy,
      SortedMap<String, FamilyHealth> status) {
    public Health {
      status = Collections.unmodifiableSortedMap(new TreeMap<>(status));
    }
  }

  /** Go's zero time.Time, which upstream reports as lastUpdated before any update. */
  public static final Instant GO_ZERO_TIME = Instant.parse("0001-01-01T00:00:00Z");

  private final Duration healthTimeout;
  private final Clock clock;
  private final Supplier<Optional<NodeInfo>> node;
  private final Map<Family, Instant> lastUpdated = new EnumMap<>(Family.class);
  private final Map<Family, Instant> oldestPendingQueued = new EnumMap<>(Family.class);

  /**
   * @param healthTimeout how long a queued change may wait for a successful sync (upstream: 2 x the
   *     sync period)
   * @param node this node's Node object as last seen; empty while it is unknown (then /healthz
   *     reports the node ineligible, as upstream does)
   */
  public ProxyHealth(Duration healthTimeout, Clock clock, Supplier<Optional<NodeInfo>> node) {
    this.healthTimeout = healthTimeout;
    this.clock = clock;
    this.node = node;
  }

  /**
   * The node hook for runs without a Node object (--manifests): always a plain Node, so /healthz
   * never drains the node; nothing could tell us it is being deleted.
   */
  public static Supplier<Optional<NodeInfo>> noNodeObject() {
    NodeInfo plain = new NodeInfo("", List.of(), List.of(), "", false, false);
    return () -> Optional.of(plain);
  }

  /** Upstream's Updated: {@code family}'s rules now reflect every change queued so far. */
  public synchronized void updated(Family family) {
    oldestPendingQueued.remove(family);
    lastUpdated.put(family, clock.instant());
  }

  /** Upstream's QueuedUpdate: a change arrived that {@code family} has not synced yet. */
  public synchronized void queuedUpdate(Family family) {
    oldestPendingQueued.putIfAbsent(family, clock.instant());
  }

  /** Upstream's Health(): healthy unless some family's oldest queued change is overdue. */
  public synchronized Health health() {
    Instant now = clock.instant();
    Instant latest = GO_ZERO_TIME;
    boolean healthy = true;
    SortedMap<String, FamilyHealth> status = new TreeMap<>();
    // Only families that have synced once count: a proxier is healthy while it starts up.
    for (Map.Entry<Family, Instant> e : lastUpdated.entrySet()) {
      Instant last = e.getValue();
      if (last.isAfter(latest)) {
        latest = last;
      }
      Instant queued = oldestPendingQueued.get(e.getKey());
      boolean ok = queued == null || Duration.between(queued, now).compareTo(healthTimeout) < 0;
      healthy &= ok;
      status.put(e.getKey().key(), new FamilyHealth(last, ok));
    }
    return new Health(latest, now, healthy, status);
  }

  /** Upstream's NodeEligible: the Node is known, not being deleted, not tainted ToBeDeleted. */
  public boolean nodeEligible() {
    return node.get().map(NodeInfo::eligible).orElse(false);
  }

  @Override
  public void queued(Queued q) {
    queuedUpdate(Family.IPV4);
  }

  @Override
  public void synced(Synced s) {
    if (s.ok()) {
      updated(Family.IPV4);
    }
  }

  @Override
  public String toString() {
    return "proxy health";
  }
}
