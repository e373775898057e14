package dev.svcproxy.conntrack;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ConntrackTool;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.ConntrackCodec;
import dev.svcproxy.sync.SyncObserver;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deletes stale UDP and SCTP conntrack flows after a sync, as upstream's conntrack reconciler
 * (CleanStaleEntries): run after each successful sync in which a UDP or SCTP service port or its
 * endpoints changed, it lists the flows and deletes those {@link StaleFlows} names, one by one. A
 * failing conntrack command is logged and never fails the sync.
 */
public final class ConntrackReconciler implements SyncObserver {
  private static final Logger LOG = LoggerFactory.getLogger(ConntrackReconciler.class);

  /** svcproxy programs IPv4 only; upstream labels by the proxier's family. */
  static final String IP_FAMILY = "IPv4";

  private final ConntrackTool tool;
  private final LongSupplier nanoTime;
  private final Histogram duration;
  private final Counter deleted;

  /** A reconciler that runs `conntrack` through {@code runner} and registers its metrics. */
  public ConntrackReconciler(CommandRunner runner, PrometheusRegistry registry) {
    this(runner, registry, System::nanoTime);
  }

  ConntrackReconciler(CommandRunner runner, PrometheusRegistry registry, LongSupplier nanoTime) {
    this.tool = new ConntrackTool(runner);
    this.nanoTime = nanoTime;
    // Names, help, label and buckets as upstream's pkg/proxy/metrics (ReconcileConntrackFlows*);
    // the help carries the "[ALPHA] " that component-base puts in front of it.
    this.duration =
        Histogram.builder()
            .name("kubeproxy_conntrack_reconciler_sync_duration_seconds")
            .help("[ALPHA] ReconcileConntrackFlowsLatency latency in seconds")
            .labelNames("ip_family")
            .classicExponentialUpperBounds(0.001, 2, 15)
            .classicOnly()
            .register(registry);
    this.deleted =
        Counter.builder()
            .name("kubeproxy_conntrack_reconciler_deleted_entries_total")
            .help("[ALPHA] Cumulative conntrack flows deleted by conntrack reconciler")
            .labelNames("ip_family")
            .register(registry);
  }

  @Override
  public void synced(Synced s) {
    if (!s.ok() || !cleanupRequired(s.previous(), s.state())) {
      return;
    }
    reconcile(s.state());
  }

  /**
   * True when a UDP or SCTP service port, or its endpoints, differ between the two states
   * (upstream: the change trackers' ConntrackCleanupRequired).
   */
  static boolean cleanupRequired(ProxyState before, ProxyState after) {
    Set<ServicePortName> names = new HashSet<>();
    names.addAll(before.services().keySet());
    names.addAll(after.services().keySet());
    names.addAll(before.endpoints().keySet());
    names.addAll(after.endpoints().keySet());
    for (ServicePortName n : names) {
      if (!StaleFlows.CLEANED.contains(n.protocol())) {
        continue;
      }
      if (!Objects.equals(before.services().get(n), after.services().get(n))
          || !before.endpointsOf(n).equals(after.endpointsOf(n))) {
        return true;
      }
    }
    return false;
  }

  /** Lists the flows and deletes the stale ones; returns how many the tool deleted. */
  public int reconcile(ProxyState state) {
    long start = nanoTime.getAsLong();
    LOG.debug("Started to reconcile conntrack entries, ipFamily={}", IP_FAMILY);
    Set<Protocol> protocols = EnumSet.noneOf(Protocol.class);
    state.services().values().stream()
        .filter(svc -> StaleFlows.CLEANED.contains(svc.protocol()))
        .forEach(svc -> protocols.add(svc.protocol()));
    List<ConntrackCodec.Entry> entries = new ArrayList<>();
    for (Protocol p : protocols) {
      ConntrackTool.Listing l;
      try {
        l = tool.list(p);
      } catch (RuntimeException e) {
        LOG.error("Failed to list conntrack entries: {}", e.getMessage());
        return 0;
      }
      l.warnings().forEach(w -> LOG.warn("conntrack listing: {}", w));
      entries.addAll(l.entries());
    }
    int n = 0;
    int failed = 0;
    for (ConntrackCodec.Entry e : StaleFlows.of(state, entries)) {
      try {
        n += tool.delete(e);
      } catch (RuntimeException ex) {
        failed++;
        LOG.error("Failed to delete conntrack entry {}: {}", describe(e), ex.getMessage());
      }
    }
    double took = (nanoTime.getAsLong() - start) / 1e9;
    if (failed > 0) {
      LOG.error(
          "Failed to clear all conntrack entries, ipFamily={} entriesDeleted={} failed={} took={}s",
          IP_FAMILY,
          n,
          failed,
          took);
    } else {
      LOG.debug(
          "Finished reconciling conntrack entries, ipFamily={} entriesDeleted={} took={}s",
          IP_FAMILY,
          n,
          took);
    }
    duration.labelValues(IP_FAMILY).observe(took);
    deleted.labelValues(IP_FAMILY).inc(n);
    return n;
  }

  private static String describe(ConntrackCodec.Entry e) {
    return e.protocol()
        + " "
        + e.original().src()
        + ":"
        + e.original().sport()
        + " -> "
        + e.original().dst()
        + ":"
        + e.original().dport()
        + " (reply from "
        + e.reply().src()
        + ":"
        + e.reply().sport()
        + ")";
  }

  @Override
  public String toString() {
    return "conntrack reconciler";
  }
}
