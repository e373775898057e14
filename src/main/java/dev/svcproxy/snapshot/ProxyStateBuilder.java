package dev.svcproxy.snapshot;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.EndpointSlice;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.Service;
import dev.svcproxy.model.ServicePort;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Turns Services and EndpointSlices into the IPv4 ProxyState, as upstream's change trackers do for
 * one IP family: one ServicePortInfo per port, endpoints keyed by service port, de-duplicated and
 * sorted; the slices' last-change-trigger-times kept per service for the network programming
 * latency.
 */
public final class ProxyStateBuilder {
  private ProxyStateBuilder() {}

  /** Only LoadBalancers with Local external policy get a health-check node port, as upstream. */
  private static boolean needsHealthCheck(Service s) {
    return s.type().equals("LoadBalancer")
        && s.externalTrafficPolicy() == dev.svcproxy.model.TrafficPolicy.LOCAL;
  }

  public static ProxyState build(List<Service> services, List<EndpointSlice> slices) {
    TreeMap<ServicePortName, ServicePortInfo> ports = new TreeMap<>();
    for (Service s : services) {
      if (!Ip.isIpv4(s.clusterIP())) {
        continue;
      }
      for (ServicePort p : s.ports()) {
        ServicePortName name = new ServicePortName(s.namespace(), s.name(), p.name(), p.protocol());
        ports.put(
            name,
            new ServicePortInfo(
                name,
                s.clusterIP(),
                p.port(),
                p.nodePort(),
                s.externalIPs().stream().filter(Ip::isIpv4).toList(),
                s.loadBalancerIPs().stream().filter(Ip::isIpv4).toList(),
                s.loadBalancerSourceRanges().stream().filter(r -> !r.contains(":")).toList(),
                needsHealthCheck(s) ? s.healthCheckNodePort() : 0,
                s.sessionAffinityClientIP(),
                s.stickyMaxAgeSeconds(),
                s.externalTrafficPolicy(),
                s.internalTrafficPolicy()));
      }
    }
    Map<ServicePortName, Map<String, Endpoint>> byPort = new HashMap<>();
    Map<String, TreeSet<Instant>> triggers = new HashMap<>();
    List<EndpointSlice> ordered = new ArrayList<>(slices);
    ordered.sort(Comparator.comparing(EndpointSlice::namespace).thenComparing(EndpointSlice::name));
    for (EndpointSlice slice : ordered) {
      if (!slice.addressType().equals("IPv4")) {
        continue;
      }
      if (slice.lastChangeTriggerTime() != null) {
        triggers
            .computeIfAbsent(slice.namespace() + "/" + slice.serviceName(), k -> new TreeSet<>())
            .add(slice.lastChangeTriggerTime());
      }
      for (EndpointSlice.Port port : slice.ports()) {
        if (port.port() == null) {
          continue;
        }
        ServicePortName name =
            new ServicePortName(
                slice.namespace(), slice.serviceName(), port.name(), port.protocol());
        Map<String, Endpoint> eps = byPort.computeIfAbsent(name, k -> new LinkedHashMap<>());
        for (EndpointSlice.SliceEndpoint e : slice.endpoints()) {
          if (e.addresses().isEmpty() || !Ip.isIpv4(e.addresses().get(0))) {
            continue;
          }
          Endpoint ep =
              new Endpoint(
                  e.addresses().get(0),
                  port.port(),
                  e.ready(),
                  e.serving(),
                  e.terminating(),
                  e.nodeName(),
                  e.zone(),
                  e.zoneHints(),
                  e.nodeHints());
          eps.putIfAbsent(ep.address(), ep);
        }
      }
    }
    Map<ServicePortName, List<Endpoint>> endpoints = new HashMap<>();
    byPort.forEach(
        (name, eps) -> {
          List<Endpoint> list = new ArrayList<>(eps.values());
          list.sort(Comparator.comparing(Endpoint::address));
          endpoints.put(name, List.copyOf(list));
        });
    Map<String, List<Instant>> triggerTimes = new HashMap<>();
    triggers.forEach((k, v) -> triggerTimes.put(k, List.copyOf(v)));
    return new ProxyState(ports, endpoints, triggerTimes);
  }
}
