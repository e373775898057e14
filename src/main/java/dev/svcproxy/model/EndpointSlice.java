package dev.svcproxy.model;

import java.time.Instant;
import java.util.List;
import java.util.Set;

/**
 * The parts of a discovery.k8s.io/v1 EndpointSlice a proxy uses.
 *
 * @param lastChangeTriggerTime the endpoints.kubernetes.io/last-change-trigger-time annotation:
 *     when the change (pod or service) that made the controller write this slice happened; null
 *     when absent or unreadable. Network programming latency is measured from it.
 */
public record EndpointSlice(
    String namespace,
    String name,
    String serviceName,
    String addressType,
    List<Port> ports,
    List<SliceEndpoint> endpoints,
    Instant lastChangeTriggerTime) {

  public EndpointSlice {
    ports = List.copyOf(ports);
    endpoints = List.copyOf(endpoints);
  }

  /** A slice without a last-change-trigger-time annotation. */
  public EndpointSlice(
      String namespace,
      String name,
      String serviceName,
      String addressType,
      List<Port> ports,
      List<SliceEndpoint> endpoints) {
    this(namespace, name, serviceName, addressType, ports, endpoints, null);
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
