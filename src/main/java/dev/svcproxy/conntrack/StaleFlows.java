package dev.svcproxy.conntrack;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.ConntrackCodec;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Which conntrack flows are stale for a ProxyState, as upstream's CleanStaleEntries decides (pure):
 * a UDP or SCTP flow whose original destination is a service IP (ClusterIP, LoadBalancer VIP,
 * externalIP) and port, or whose original destination port is a NodePort, and whose reply source
 * ip:port is none of that service port's serving endpoints. Service ports without serving endpoints
 * are left alone; TCP never matches.
 */
public final class StaleFlows {

  /** The protocols whose flows are cleaned: UDP as upstream, and SCTP as issue 9 asks. */
  public static final Set<Protocol> CLEANED = Set.of(Protocol.UDP, Protocol.SCTP);

  /**
   * The serving endpoints ("ip:port") of each service frontend, per protocol: the frontends are
   * "ip:port" strings for service IPs and "*:nodePort" for NodePorts.
   */
  record Frontends(Map<Protocol, Map<String, Set<String>>> byProtocol) {
    Set<String> endpointsOf(Protocol p, String frontend) {
      return byProtocol.getOrDefault(p, Map.of()).get(frontend);
    }
  }

  private StaleFlows() {}

  /** The entries of {@code entries} that {@code state} makes stale, in their listed order. */
  public static List<ConntrackCodec.Entry> of(
      ProxyState state, List<ConntrackCodec.Entry> entries) {
    Frontends f = frontends(state);
    List<ConntrackCodec.Entry> out = new ArrayList<>();
    for (ConntrackCodec.Entry e : entries) {
      if (isStale(f, e)) {
        out.add(e);
      }
    }
    return out;
  }

  static Frontends frontends(ProxyState state) {
    Map<Protocol, Map<String, Set<String>>> out = new HashMap<>();
    for (Map.Entry<ServicePortName, ServicePortInfo> s : state.services().entrySet()) {
      ServicePortInfo svc = s.getValue();
      if (!CLEANED.contains(svc.protocol())) {
        continue;
      }
      // Serving endpoints regardless of traffic policy, topology or terminating state: a change
      // of policy must not cut flows that still reach a live endpoint (as upstream, and as TCP).
      Set<String> serving = new HashSet<>();
      for (Endpoint ep : state.endpointsOf(s.getKey())) {
        if (ep.serving()) {
          serving.add(hostPort(ep.ip(), ep.port()));
        }
      }
      if (serving.isEmpty()) {
        // Nothing to move a flow to: the next packet would find no endpoint either.
        continue;
      }
      Map<String, Set<String>> m = out.computeIfAbsent(svc.protocol(), k -> new HashMap<>());
      List<String> ips = new ArrayList<>();
      ips.add(svc.clusterIP());
      ips.addAll(svc.loadBalancerVIPs());
      ips.addAll(svc.externalIPs());
      for (String ip : ips) {
        m.put(hostPort(ip, svc.port()), serving);
      }
      if (svc.nodePort() != 0) {
        m.put(nodePortKey(svc.nodePort()), serving);
      }
    }
    return new Frontends(out);
  }

  static boolean isStale(Frontends f, ConntrackCodec.Entry e) {
    // By number: the name column may say "unknown" for a module not loaded.
    Protocol p = Protocol.ofNumber(e.protocolNumber());
    if (p == null || !CLEANED.contains(p)) {
      return false;
    }
    ConntrackCodec.Tuple orig = e.original();
    ConntrackCodec.Tuple reply = e.reply();
    if (orig.dport() == null || reply.sport() == null) {
      return false;
    }
    String replySource = hostPort(reply.src(), reply.sport());
    Set<String> byIp = f.endpointsOf(p, hostPort(orig.dst(), orig.dport()));
    if (byIp != null && !byIp.contains(replySource)) {
      return true;
    }
    Set<String> byNodePort = f.endpointsOf(p, nodePortKey(orig.dport()));
    return byNodePort != null && !byNodePort.contains(replySource);
  }

  private static String hostPort(String ip, int port) {
    Objects.requireNonNull(ip);
    return ip.contains(":") ? "[" + ip + "]:" + port : ip + ":" + port;
  }

  private static String nodePortKey(int port) {
    return "*:" + port;
  }
}
