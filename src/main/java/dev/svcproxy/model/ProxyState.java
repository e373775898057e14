package dev.svcproxy.model;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/** An immutable snapshot of what a proxy serves: service ports and their endpoints. */
public record ProxyState(
    SortedMap<ServicePortName, ServicePortInfo> services,
    Map<ServicePortName, List<Endpoint>> endpoints) {

  public ProxyState {
    services = Collections.unmodifiableSortedMap(new TreeMap<>(services));
    endpoints = Map.copyOf(endpoints);
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
}
