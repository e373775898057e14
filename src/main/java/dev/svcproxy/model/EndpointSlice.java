package dev.svcproxy.model;

import java.util.List;
import java.util.Set;

/** The parts of a discovery.k8s.io/v1 EndpointSlice a proxy uses. */
public record EndpointSlice(
    String namespace,
    String name,
    String serviceName,
    String addressType,
    List<Port> ports,
    List<SliceEndpoint> endpoints) {

  public EndpointSlice {
    ports = List.copyOf(ports);
    endpoints = List.copyOf(endpoints);
  }

  /** One entry of ports: a null port means "all ports", which a proxy ignores. */
  public record Port(String name, Integer port, Protocol protocol) {
    public Port {
      name = name == null ? "" : name;
    }
  }

  /** One entry of endpoints, with conditions defaulted as upstream does. */
  public record SliceEndpoint(
      List<String> addresses,
      boolean ready,
      boolean serving,
      boolean terminating,
      String nodeName,
      String zone,
      Set<String> zoneHints,
      Set<String> nodeHints) {
    public SliceEndpoint {
      addresses = List.copyOf(addresses);
      zoneHints = Set.copyOf(zoneHints);
      nodeHints = Set.copyOf(nodeHints);
    }
  }
}
