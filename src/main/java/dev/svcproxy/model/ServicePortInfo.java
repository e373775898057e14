package dev.svcproxy.model;

import java.util.List;

/** One Service port flattened with the Service fields a proxy needs, as BaseServicePortInfo. */
public record ServicePortInfo(
    ServicePortName name,
    String clusterIP,
    int port,
    int nodePort,
    List<String> externalIPs,
    List<String> loadBalancerVIPs,
    List<String> loadBalancerSourceRanges,
    int healthCheckNodePort,
    boolean sessionAffinityClientIP,
    int stickyMaxAgeSeconds,
    TrafficPolicy externalPolicy,
    TrafficPolicy internalPolicy) {

  public ServicePortInfo {
    externalIPs = List.copyOf(externalIPs);
    loadBalancerVIPs = List.copyOf(loadBalancerVIPs);
    loadBalancerSourceRanges = List.copyOf(loadBalancerSourceRanges);
  }

  public Protocol protocol() {
    return name.protocol();
  }

  public boolean externallyAccessible() {
    return nodePort != 0 || !loadBalancerVIPs.isEmpty() || !externalIPs.isEmpty();
  }

  public boolean externalPolicyLocal() {
    return externallyAccessible() && externalPolicy == TrafficPolicy.LOCAL;
  }

  public boolean internalPolicyLocal() {
    return internalPolicy == TrafficPolicy.LOCAL;
  }

  public boolean usesClusterEndpoints() {
    return !internalPolicyLocal() || externallyAccessible();
  }

  public boolean usesLocalEndpoints() {
    return internalPolicyLocal() || externalPolicyLocal();
  }
}
