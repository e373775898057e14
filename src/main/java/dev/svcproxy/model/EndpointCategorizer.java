package dev.svcproxy.model;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Decides which endpoints of a service port this node may use, as upstream's CategorizeEndpoints:
 * the cluster set (ready, topology-filtered, falling back to serving-terminating), the local set
 * (ready local, falling back to serving-terminating local) and their union.
 */
public final class EndpointCategorizer {

  /** The result of categorizing one service port's endpoints. */
  public record Categories(
      List<Endpoint> cluster, List<Endpoint> local, List<Endpoint> allReachable, boolean hasAny) {}

  private enum TopologyMode {
    NONE,
    PREFER_SAME_NODE,
    PREFER_SAME_ZONE
  }

  private EndpointCategorizer() {}

  /** Categorizes endpoints for a node named {@code nodeName} in zone {@code zone} ("" if none). */
  public static Categories categorize(
      List<Endpoint> endpoints, ServicePortInfo svc, String nodeName, String zone) {
    List<Endpoint> cluster = List.of();
    boolean hasAny = false;
    if (svc.usesClusterEndpoints()) {
      TopologyMode mode = topologyMode(endpoints, nodeName, zone);
      cluster =
          filter(endpoints, ep -> ep.ready() && availableForTopology(ep, mode, nodeName, zone));
      if (cluster.isEmpty()) {
        cluster = filter(endpoints, ep -> ep.serving() && ep.terminating());
      }
      hasAny = !cluster.isEmpty();
    }
    if (!svc.usesLocalEndpoints()) {
      return new Categories(cluster, List.of(), cluster, hasAny);
    }

    boolean localReady = false;
    boolean localServingTerminating = false;
    for (Endpoint ep : endpoints) {
      if (ep.ready()) {
        hasAny = true;
        localReady |= ep.isLocal(nodeName);
      } else if (ep.serving() && ep.terminating()) {
        hasAny = true;
        localServingTerminating |= ep.isLocal(nodeName);
      }
    }
    List<Endpoint> local = List.of();
    if (localReady) {
      local = filter(endpoints, ep -> ep.isLocal(nodeName) && ep.ready());
    } else if (localServingTerminating) {
      local = filter(endpoints, ep -> ep.isLocal(nodeName) && ep.serving() && ep.terminating());
    }
    if (!svc.usesClusterEndpoints()) {
      return new Categories(cluster, local, local, hasAny);
    }
    // The cluster set may hold remote endpoints the local set lacks, and the local set
    // terminating or topology-filtered ones the cluster set lacks: merge them.
    Map<String, Endpoint> union = new LinkedHashMap<>();
    cluster.forEach(ep -> union.put(ep.address(), ep));
    local.forEach(ep -> union.put(ep.address(), ep));
    List<Endpoint> all = new ArrayList<>(union.values());
    all.sort(Comparator.comparing(Endpoint::address));
    return new Categories(cluster, local, List.copyOf(all), hasAny);
  }

  private static TopologyMode topologyMode(List<Endpoint> endpoints, String nodeName, String zone) {
    boolean forNode = false;
    boolean allNodeHints = true;
    boolean forZone = false;
    boolean allZoneHints = true;
    boolean anyReady = false;
    for (Endpoint ep : endpoints) {
      if (!ep.ready()) {
        continue;
      }
      anyReady = true;
      if (ep.nodeHints().isEmpty()) {
        allNodeHints = false;
      } else if (ep.nodeHints().contains(nodeName)) {
        forNode = true;
      }
      if (ep.zoneHints().isEmpty()) {
        allZoneHints = false;
      } else if (ep.zoneHints().contains(zone)) {
        forZone = true;
      }
    }
    if (!anyReady) {
      return TopologyMode.NONE;
    }
    if (allNodeHints && forNode) {
      return TopologyMode.PREFER_SAME_NODE;
    }
    if (allZoneHints && forZone) {
      return TopologyMode.PREFER_SAME_ZONE;
    }
    return TopologyMode.NONE;
  }

  private static boolean availableForTopology(
      Endpoint ep, TopologyMode mode, String nodeName, String zone) {
    return switch (mode) {
      case NONE -> true;
      case PREFER_SAME_NODE -> ep.nodeHints().contains(nodeName);
      case PREFER_SAME_ZONE -> ep.zoneHints().contains(zone);
    };
  }

  private static List<Endpoint> filter(List<Endpoint> endpoints, Predicate<Endpoint> keep) {
    return endpoints.stream().filter(keep).toList();
  }
}
