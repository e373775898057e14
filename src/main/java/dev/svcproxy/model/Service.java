package dev.svcproxy.model;

import java.util.List;

/**
 * The parts of a v1 Service a proxy uses. IP lists hold only valid addresses; loadBalancerIPs are
 * the VIP-mode ingress IPs of the status.
 */
public record Service(
    String namespace,
    String name,
    String type,
    String clusterIP,
    List<ServicePort> ports,
    List<String> externalIPs,
    List<String> loadBalancerIPs,
    List<String> loadBalancerSourceRanges,
    TrafficPolicy externalTrafficPolicy,
    TrafficPolicy internalTrafficPolicy,
    int healthCheckNodePort,
    boolean sessionAffinityClientIP,
    int stickyMaxAgeSeconds) {

  /** Default ClientIP affinity timeout, as the API defaults it. */
  public static final int DEFAULT_STICKY_SECONDS = 10800;

  public Service {
    ports = List.copyOf(ports);
    externalIPs = List.copyOf(externalIPs);
    loadBalancerIPs = List.copyOf(loadBalancerIPs);
    loadBalancerSourceRanges = List.copyOf(loadBalancerSourceRanges);
  }

  /** "ns/name" */
  public String namespacedName() {
    return namespace + "/" + name;
  }
}
