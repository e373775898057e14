package dev.svcproxy.source;

import dev.svcproxy.model.Cidr;
import java.util.List;
import java.util.Optional;

/**
 * What a proxy needs of its own Node object: its IPv4 addresses (InternalIP ones first, then
 * ExternalIP ones, as upstream's node IP detection orders them), pod CIDRs (spec.podCIDRs, else
 * spec.podCIDR), the topology.kubernetes.io/zone label, and whether it is going away.
 *
 * @param deleting metadata.deletionTimestamp is set (or the Node was deleted)
 * @param toBeDeleted the cluster autoscaler's ToBeDeletedByClusterAutoscaler taint is on it
 */
public record NodeInfo(
    String name,
    List<String> addresses,
    List<String> podCidrs,
    String zone,
    boolean deleting,
    boolean toBeDeleted) {

  /** The label upstream reads a node's zone from (v1.LabelTopologyZone). */
  public static final String ZONE_LABEL = "topology.kubernetes.io/zone";

  /** The taint the cluster autoscaler puts on a node it is about to remove. */
  public static final String TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler";

  public NodeInfo {
    addresses = List.copyOf(addresses);
    podCidrs = List.copyOf(podCidrs);
    zone = zone == null ? "" : zone;
  }

  /**
   * Whether load balancers should still send new connections here, as upstream's /healthz decides
   * it (pkg/proxy/healthcheck: not being deleted and not tainted ToBeDeletedByClusterAutoscaler).
   */
  public boolean eligible() {
    return !deleting && !toBeDeleted;
  }

  /** The primary IPv4 address: the first InternalIP, else the first ExternalIP. */
  public Optional<String> primaryIp() {
    return addresses.stream().findFirst();
  }

  /** The first IPv4 pod CIDR; upstream's NodeCIDR detection uses only the first per family. */
  public Optional<String> podCidrIpv4() {
    for (String c : podCidrs) {
      try {
        Cidr parsed = Cidr.parse(c);
        if (!parsed.ipv6()) {
          return Optional.of(parsed.toString());
        }
      } catch (IllegalArgumentException e) {
        // Not a CIDR: the API server would not have taken it; skip it.
      }
    }
    return Optional.empty();
  }

  /** This node as it is once deleted: the last facts, marked as going away. */
  public NodeInfo gone() {
    return new NodeInfo(name, addresses, podCidrs, zone, true, toBeDeleted);
  }
}
