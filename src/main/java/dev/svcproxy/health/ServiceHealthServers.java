package dev.svcproxy.health;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.sync.SyncObserver;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The health-check node ports of eTP=Local LoadBalancer Services, as upstream's
 * ServiceHealthServer: after each successful sync one HTTP listener per Service on its
 * healthCheckNodePort (on 0.0.0.0, or on each node IP --nodeport-addresses selects), answering any
 * path with 200 when the node has a ready endpoint of the Service and the proxy is healthy, else
 * 503, so that the cloud load balancer sends traffic only to nodes that can serve it locally.
 */
public final class ServiceHealthServers implements SyncObserver, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ServiceHealthServers.class);

  /** A Service's namespace and name (upstream's types.NamespacedName). */
  public record ServiceName(String namespace, String name) implements Comparable<ServiceName> {
    @Override
    public int compareTo(ServiceName o) {
      return toString().compareTo(o.toString());
    }

    @Override
    public String toString() {
      return namespace + "/" + name;
    }
  }

  /** One open health check: its port, its listeners, and the local endpoint count it reports. */
  private static final class Instance {
    final int port;
    final List<Http.Bound> servers = new ArrayList<>();
    int endpoints;

    Instance(int port) {
      this.port = port;
    }
  }

  private final String nodeName;
  private final List<InetAddress> addresses;
  private final Http.Listener listener;
  private final ProxyHealth health;
  private final Map<ServiceName, Instance> services = new HashMap<>();

  /**
   * @param nodeName this node: endpoints with this nodeName are local
   * @param addresses where each health check listens (see {@link #listenAddresses})
   */
  ServiceHealthServers(
      String nodeName, List<InetAddress> addresses, Http.Listener listener, ProxyHealth health) {
    this.nodeName = nodeName;
    this.addresses = List.copyOf(addresses);
    this.listener = listener;
    this.health = health;
  }

  /**
   * Where health checks listen, as upstream's newServiceHealthServer: 0.0.0.0 when NodePorts match
   * every address, otherwise each node address inside --nodeport-addresses (none: no listener).
   */
  public static List<InetAddress> listenAddresses(ProxyConfig cfg) {
    List<String> ips =
        cfg.nodePortsMatchAll() ? List.of("0.0.0.0") : cfg.nodePortIPs(cfg.nodeIPs());
    List<InetAddress> out = new ArrayList<>();
    for (String ip : ips) {
      try {
        out.add(InetAddress.getByName(ip));
      } catch (java.net.UnknownHostException e) {
        throw new IllegalArgumentException("not an IP address: " + ip, e);
      }
    }
    if (out.isEmpty()) {
      LOG.warn(
          "no node address matches --nodeport-addresses {}: health-check node ports will not"
              + " listen",
          cfg.nodePortCidrs());
    }
    return out;
  }

  /**
   * Upstream's ServicePortMap.HealthCheckNodePorts: each Service with a health-check node port
   * (only eTP=Local LoadBalancers get one) and that port.
   */
  public static Map<ServiceName, Integer> healthCheckNodePorts(ProxyState state) {
    Map<ServiceName, Integer> out = new TreeMap<>();
    for (ServicePortInfo p : state.services().values()) {
      if (p.healthCheckNodePort() > 0) {
        out.put(nameOf(p.name()), p.healthCheckNodePort());
      }
    }
    return out;
  }

  /**
   * Upstream's EndpointsMap.LocalReadyEndpoints: per Service, how many distinct IPs of ready
   * endpoints on this node it has over all its ports (10.0.0.1:80 and 10.0.0.1:443 are one). Only
   * ready ones: a node with only terminating endpoints must fail the LB's check.
   */
  public static Map<ServiceName, Integer> localReadyEndpoints(ProxyState state, String nodeName) {
    Map<ServiceName, Set<String>> ips = new TreeMap<>();
    for (Map.Entry<ServicePortName, List<Endpoint>> e : state.endpoints().entrySet()) {
      for (Endpoint ep : e.getValue()) {
        if (ep.ready() && ep.isLocal(nodeName)) {
          ips.computeIfAbsent(nameOf(e.getKey()), k -> new HashSet<>()).add(ep.ip());
        }
      }
    }
    Map<ServiceName, Integer> out = new TreeMap<>();
    ips.forEach((k, v) -> out.put(k, v.size()));
    return out;
  }

  private static ServiceName nameOf(ServicePortName p) {
    return new ServiceName(p.namespace(), p.name());
  }

  @Override
  public void synced(Synced s) {
    // Upstream updates the health checks at the end of a successful syncProxyRules only.
    if (!s.ok()) {
      return;
    }
    syncServices(healthCheckNodePorts(s.state()));
    syncEndpoints(localReadyEndpoints(s.state(), nodeName));
  }

  /**
   * Upstream's SyncServices: closes the health checks of Services that went or changed port, opens
   * those of new ones; one that cannot listen is logged (upstream: Event
   * FailedToStartServiceHealthcheck) and tried again at the next sync.
   */
  public synchronized void syncServices(Map<ServiceName, Integer> ports) {
    for (var it = services.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<ServiceName, Instance> e = it.next();
      Integer port = ports.get(e.getKey());
      if (port == null || port != e.getValue().port) {
        LOG.info("closing healthcheck for service {} on port {}", e.getKey(), e.getValue().port);
        closeAll(e.getKey(), e.getValue());
        it.remove();
      }
    }
    for (Map.Entry<ServiceName, Integer> e : new TreeMap<>(ports).entrySet()) {
      ServiceName name = e.getKey();
      if (services.containsKey(name)) {
        continue;
      }
      Instance instance = new Instance(e.getValue());
      try {
        for (InetAddress a : addresses) {
          instance.servers.add(
              listener.listen(new InetSocketAddress(a, instance.port), path -> respond(name)));
        }
      } catch (IOException ex) {
        // Upstream closes what it opened so that a retry, or another owner of the port, can have
        // it.
        closeAll(name, instance);
        LOG.error(
            "FailedToStartServiceHealthcheck: node {} failed to start healthcheck \"{}\" on port"
                + " {}: {}",
            nodeName,
            name,
            instance.port,
            ex.getMessage());
        continue;
      }
      LOG.info("opened healthcheck for service {} on port {}", name, instance.port);
      services.put(name, instance);
    }
  }

  /**
   * Upstream's SyncEndpoints: each open health check reports its Service's local ready endpoint
   * count, 0 when {@code counts} does not name it; counts of Services without one are dropped.
   */
  public synchronized void syncEndpoints(Map<ServiceName, Integer> counts) {
    services.forEach((name, instance) -> instance.endpoints = counts.getOrDefault(name, 0));
  }

  /** The Services with an open health check and their ports. */
  public synchronized Map<ServiceName, Integer> openPorts() {
    Map<ServiceName, Integer> out = new TreeMap<>();
    services.forEach((k, v) -> out.put(k, v.port));
    return out;
  }

  /** The answer for {@code name}'s health check, as upstream's hcHandler. */
  Http.Response respond(ServiceName name) {
    int count;
    synchronized (this) {
      Instance instance = services.get(name);
      if (instance == null) {
        // A request racing the close: upstream logs it and writes nothing (an empty 200).
        LOG.error("received request for closed healthcheck {}", name);
        return new Http.Response(200, Map.of(), "");
      }
      count = instance.endpoints;
    }
    boolean proxyHealthy = health.health().healthy();
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put("Content-Type", "application/json");
    headers.put("X-Content-Type-Options", "nosniff");
    headers.put("X-Load-Balancing-Endpoint-Weight", Integer.toString(count));
    // Upstream's body is a dedented template: tab-indented lines, no trailing newline.
    String body =
        "{\n\t\"service\": {\n\t\t\"namespace\": "
            + Http.quote(name.namespace())
            + ",\n\t\t\"name\": "
            + Http.quote(name.name())
            + "\n\t},\n\t\"localEndpoints\": "
            + count
            + ",\n\t\"serviceProxyHealthy\": "
            + proxyHealthy
            + "\n}";
    return new Http.Response(count != 0 && proxyHealthy ? 200 : 503, headers, body);
  }

  private void closeAll(ServiceName name, Instance instance) {
    for (Http.Bound s : instance.servers) {
      try {
        s.close();
      } catch (RuntimeException e) {
        LOG.error("error closing server for health check service {}: {}", name, e.getMessage());
      }
    }
    instance.servers.clear();
  }

  @Override
  public synchronized void close() {
    services.forEach(this::closeAll);
    services.clear();
  }

  @Override
  public String toString() {
    return "service health checks";
  }
}
