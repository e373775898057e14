package dev.svcproxy.plan;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.Service;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import java.util.List;

/**
 * One service port's decisions, made once and independent of the proxy mode: upstream's iptables
 * and nftables proxiers make the same ones per service port (which endpoints, which policy chains,
 * REJECT or DROP and why, masquerading, the LB firewall), then each writes them in its own syntax.
 *
 * @param service the service port as the snapshot holds it (addresses, ports, affinity)
 * @param clusterEndpoints the endpoints the cluster policy uses (ready, topology-filtered, else
 *     serving-terminating); empty when the port does not use the cluster policy
 * @param localEndpoints the endpoints the local policy uses (ready local, else serving-terminating
 *     local); empty when the port does not use the local policy
 * @param reachableEndpoints the union of both, sorted by address: each gets an endpoint chain
 * @param hasEndpoints whether any endpoint may take traffic at all
 * @param internalPolicy where cluster-IP traffic goes (the local policy for iTP=Local)
 * @param externalPolicy where external traffic goes after the external chain (the local policy for
 *     eTP=Local on an externally accessible port)
 * @param usesClusterChain the cluster policy chain exists (KUBE-SVC-, nftables service-)
 * @param usesLocalChain the local policy chain exists (KUBE-SVL-, nftables local-)
 * @param usesExternalChain the external chain exists (KUBE-EXT-, nftables external-)
 * @param internalUnreachable what happens to cluster-IP traffic that has no endpoint to go to
 * @param externalUnreachable what happens to external traffic (external IPs, LB IPs, NodePort) that
 *     has no endpoint to go to
 * @param clusterIpMasquerade which cluster-IP traffic is marked for SNAT
 * @param externalMasquerade which external traffic is marked for SNAT in the external chain
 * @param shortCircuitPods eTP=Local's external chain sends pod traffic (as the local-traffic
 *     detector tells it) straight to the cluster policy: a pod reaching a LB IP or NodePort of its
 *     own cluster must not be dropped for want of a local endpoint
 * @param firewall the LB source-range firewall, whenever the port has LB IPs and source ranges
 *     (with or without endpoints: a mode that rejects endpoint-less ports first, as iptables does,
 *     skips it then); null otherwise
 */
public record ServicePortPlan(
    ServicePortInfo service,
    List<Endpoint> clusterEndpoints,
    List<Endpoint> localEndpoints,
    List<Endpoint> reachableEndpoints,
    boolean hasEndpoints,
    Policy internalPolicy,
    Policy externalPolicy,
    boolean usesClusterChain,
    boolean usesLocalChain,
    boolean usesExternalChain,
    Unreachable internalUnreachable,
    Unreachable externalUnreachable,
    ClusterIpMasquerade clusterIpMasquerade,
    ExternalMasquerade externalMasquerade,
    boolean shortCircuitPods,
    Firewall firewall) {

  public ServicePortPlan {
    clusterEndpoints = List.copyOf(clusterEndpoints);
    localEndpoints = List.copyOf(localEndpoints);
    reachableEndpoints = List.copyOf(reachableEndpoints);
  }

  /** Which endpoint set (and policy chain) traffic uses. */
  public enum Policy {
    CLUSTER,
    LOCAL
  }

  /** The verdict for traffic with no endpoint to go to, and why. */
  public enum Unreachable {
    /** There is an endpoint for this traffic. */
    NONE(""),
    /** The port has no usable endpoint at all: refuse the connection (ICMP unreachable / RST). */
    REJECT_NO_ENDPOINTS("has no endpoints"),
    /**
     * The policy for this traffic is Local and this node has none of the port's endpoints, though
     * other nodes do: drop silently, so a client (or LB health check) retries another node.
     */
    DROP_NO_LOCAL_ENDPOINTS("has no local endpoints");

    private final String reason;

    Unreachable(String reason) {
      this.reason = reason;
    }

    /** Upstream's comment after the service port name ("has no endpoints"). */
    public String reason() {
      return reason;
    }

    public boolean reachable() {
      return this == NONE;
    }
  }

  /** Which traffic to the cluster IP is marked for SNAT. */
  public enum ClusterIpMasquerade {
    /** --masquerade-all: every connection. */
    ALL,
    /** Only traffic the local-traffic detector says did not come from a pod. */
    NON_POD_SOURCES,
    /** No detector and no masquerade-all: none (only hairpin traffic, in the endpoint chains). */
    NONE
  }

  /** Which external traffic the external chain marks for SNAT. */
  public enum ExternalMasquerade {
    /** eTP=Cluster: all of it (the source may be on another node; replies must come back here). */
    ALL,
    /**
     * eTP=Local: only traffic from this node's own addresses (which then uses the cluster policy);
     * everything else keeps its source, so the endpoint sees the client.
     */
    NODE_SOURCES_ONLY
  }

  /**
   * The LB source-range firewall of a port with LB IPs and source ranges.
   *
   * @param sourceRanges loadBalancerSourceRanges as the Service gives them
   * @param allowLoadBalancerIpSources a range holds the node's IP, so traffic the node sends to its
   *     own LB IP (whose source may then be the LB IP) is admitted too
   */
  public record Firewall(List<String> sourceRanges, boolean allowLoadBalancerIpSources) {
    public Firewall {
      sourceRanges = List.copyOf(sourceRanges);
    }
  }

  public ServicePortName name() {
    return service.name();
  }

  public String clusterIP() {
    return service.clusterIP();
  }

  /** The NodePort, 0 when none. */
  public int nodePort() {
    return service.nodePort();
  }

  public List<String> externalIPs() {
    return service.externalIPs();
  }

  public List<String> loadBalancerIPs() {
    return service.loadBalancerVIPs();
  }

  /** The eTP=Local health-check NodePort, 0 when none. */
  public int healthCheckNodePort() {
    return service.healthCheckNodePort();
  }

  /** Whether traffic to the cluster IP has an endpoint to go to. */
  public boolean hasInternalEndpoints() {
    return internalUnreachable.reachable();
  }

  /** Whether external traffic has an endpoint to go to. */
  public boolean hasExternalEndpoints() {
    return externalUnreachable.reachable();
  }

  /** Whether the port has an LB source-range firewall, endpoints or not. */
  public boolean usesFirewall() {
    return firewall != null;
  }

  /** spec.sessionAffinity, upstream's SessionAffinityType. */
  public enum SessionAffinity {
    NONE,
    CLIENT_IP
  }

  /** The port's session affinity: modes key their affinity rules on this, never on a timeout. */
  public SessionAffinity sessionAffinity() {
    return service.sessionAffinityClientIP() ? SessionAffinity.CLIENT_IP : SessionAffinity.NONE;
  }

  /**
   * The ClientIP affinity timeout in seconds; 0 without ClientIP affinity. A source that leaves it
   * 0 gets the API server's default (10800), which upstream always sees filled in.
   */
  public int affinityTimeoutSeconds() {
    if (sessionAffinity() != SessionAffinity.CLIENT_IP) {
      return 0;
    }
    int seconds = service.stickyMaxAgeSeconds();
    return seconds > 0 ? seconds : Service.DEFAULT_STICKY_SECONDS;
  }
}
