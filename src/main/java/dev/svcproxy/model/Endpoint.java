package dev.svcproxy.model;

import java.util.Set;

/** One endpoint address and port of a service port, with its conditions and topology. */
public record Endpoint(
    String ip,
    int port,
    boolean ready,
    boolean serving,
    boolean terminating,
    String nodeName,
    String zone,
    Set<String> zoneHints,
    Set<String> nodeHints) {

  public Endpoint {
    nodeName = nodeName == null ? "" : nodeName;
    zone = zone == null ? "" : zone;
    zoneHints = Set.copyOf(zoneHints);
    nodeHints = Set.copyOf(nodeHints);
  }

  /** A ready endpoint with no topology, for tests and simple inputs. */
  public static Endpoint ready(String ip, int port, String nodeName) {
    return new Endpoint(ip, port, true, true, false, nodeName, "", Set.of(), Set.of());
  }

  /** "ip:port" ("[ip]:port" for IPv6), the string endpoint chain names hash. */
  public String address() {
    return ip.contains(":") ? "[" + ip + "]:" + port : ip + ":" + port;
  }

  public boolean isLocal(String node) {
    return !nodeName.isEmpty() && nodeName.equals(node);
  }
}
