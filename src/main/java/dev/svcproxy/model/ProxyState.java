package dev.svcproxy.model;

import java.time.Instant;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * An immutable snapshot of what a proxy serves: service ports and their endpoints.
 *
 * @param lastChangeTriggerTimes by namespaced service name ("ns/name"), the sorted, distinct
 *     last-change-trigger-times of its EndpointSlices (see {@link
 *     EndpointSlice#lastChangeTriggerTime()}); services without any are absent. Metadata for the
 *     network programming latency: it plays no part in equality, since two states that program the
 *     same rules are the same state to the sync loop.
 * @param serviceCidrs the cluster's service CIDRs (networking.k8s.io/v1 ServiceCIDR objects), in
 *     the order first seen, without repeats; empty when none are known. nftables mode drops traffic
 *     to their unallocated addresses, as upstream does.
 */
public record ProxyState(
    SortedMap<ServicePortName, ServicePortInfo> services,
    Map<ServicePortName, List<Endpoint>> endpoints,
    Map<String, List<Instant>> lastChangeTriggerTimes,
    List<Cidr> serviceCidrs) {

  public ProxyState {
    services = Collections.unmodifiableSortedMap(new TreeMap<>(services));
    endpoints = Map.copyOf(endpoints);
    lastChangeTriggerTimes = Map.copyOf(lastChangeTriggerTimes);
    serviceCidrs = List.copyOf(new java.util.LinkedHashSet<>(serviceCidrs));
  }

  /** A state without service CIDRs. */
  public ProxyState(
      SortedMap<ServicePortName, ServicePortInfo> services,
      Map<ServicePortName, List<Endpoint>> endpoints,
      Map<String, List<Instant>> lastChangeTriggerTimes) {
    this(services, endpoints, lastChangeTriggerTimes, List.of());
  }

  /** A state without trigger times. */
  public ProxyState(
      SortedMap<ServicePortName, ServicePortInfo> services,
      Map<ServicePortName, List<Endpoint>> endpoints) {
    this(services, endpoints, Map.of(), List.of());
  }

  /** This state with {@code cidrs} as the cluster's service CIDRs. */
  public ProxyState withServiceCidrs(List<Cidr> cidrs) {
    return new ProxyState(services, endpoints, lastChangeTriggerTimes, cidrs);
  }

  public static ProxyState empty() {
    return new ProxyState(new TreeMap<>(), Map.of());
  }

  /** The endpoints of a service port, sorted by address; empty when it has none. */
  public List<Endpoint> endpointsOf(ServicePortName name) {
    return endpoints.getOrDefault(name, List.of());
  }

  public int totalEndpoints() {
    int n = 0;
    for (ServicePortName name : services.keySet()) {
      n += endpointsOf(name).size();
    }
    return n;
  }

  /**
   * Equal when the service ports, endpoints and service CIDRs are; trigger times are not compared.
   */
  @Override
  public boolean equals(Object o) {
    return o instanceof ProxyState p
        && services.equals(p.services)
        && endpoints.equals(p.endpoints)
        && serviceCidrs.equals(p.serviceCidrs);
  }

  @Override
  public int hashCode() {
    return Objects.hash(services, endpoints, serviceCidrs);
  }
}
