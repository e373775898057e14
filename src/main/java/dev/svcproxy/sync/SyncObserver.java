package dev.svcproxy.sync;

import dev.svcproxy.model.ProxyState;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;

/**
 * Told by {@link SyncLoop} what it queues and syncs: metrics, the proxy health tracker, service
 * health-check servers and UDP conntrack cleanup plug in here, never into a proxier. Calls come
 * outside the loop's lock; an observer that throws is logged and does not stop the loop.
 */
public interface SyncObserver {

  /**
   * A new desired state arrived that differs from the last one.
   *
   * @param services namespaced names ("ns/name") whose service ports changed in this update
   * @param endpoints namespaced names whose endpoints changed in this update
   * @param pendingServices namespaced names with service changes not yet synced (this update's
   *     included)
   * @param pendingEndpoints namespaced names with endpoint changes not yet synced
   * @param at when the update was queued
   */
  record Queued(
      Set<String> services,
      Set<String> endpoints,
      Set<String> pendingServices,
      Set<String> pendingEndpoints,
      Instant at) {
    public Queued {
      services = Set.copyOf(services);
      endpoints = Set.copyOf(endpoints);
      pendingServices = Set.copyOf(pendingServices);
      pendingEndpoints = Set.copyOf(pendingEndpoints);
    }
  }

  /**
   * One sync attempt, successful or not.
   *
   * @param full whether it was a full sync
   * @param previous what the kernel held before (as far as the loop knows)
   * @param state what the sync wrote (on failure: what it tried to write)
   * @param changed namespaced names the sync was asked to write (all of them in a full sync are not
   *     listed: see {@code full})
   * @param result the proxier's result; null when the sync failed
   * @param failure why the sync failed; null on success
   * @param started when the sync started
   * @param took how long it took
   */
  record Synced(
      boolean full,
      ProxyState previous,
      ProxyState state,
      Set<String> changed,
      SyncResult result,
      RuntimeException failure,
      Instant started,
      Duration took) {
    public Synced {
      changed = Set.copyOf(changed);
    }

    public boolean ok() {
      return failure == null;
    }
  }

  /** Called on the updating thread after {@link SyncLoop#update} queued a change. */
  default void queued(Queued q) {}

  /** Called on the sync thread after each sync attempt. */
  default void synced(Synced s) {}
}
