package dev.svcproxy.plan;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.EndpointCategorizer;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.plan.ServicePortPlan.ClusterIpMasquerade;
import dev.svcproxy.plan.ServicePortPlan.ExternalMasquerade;
import dev.svcproxy.plan.ServicePortPlan.Firewall;
import dev.svcproxy.plan.ServicePortPlan.Policy;
import dev.svcproxy.plan.ServicePortPlan.Unreachable;
import java.util.Collections;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Makes each service port's {@link ServicePortPlan} from the snapshot and the node's configuration,
 * as upstream's syncProxyRules does per service port before writing any rule. A pure function.
 */
public final class ServicePlanner {
  private final ProxyConfig cfg;

  public ServicePlanner(ProxyConfig cfg) {
    this.cfg = cfg;
  }

  /** The plan of every service port of {@code state}, in service-port order. */
  public SortedMap<ServicePortName, ServicePortPlan> plan(ProxyState state) {
    SortedMap<ServicePortName, ServicePortPlan> out = new TreeMap<>();
    for (ServicePortInfo svc : state.services().values()) {
      out.put(svc.name(), plan(svc, state.endpointsOf(svc.name())));
    }
    return Collections.unmodifiableSortedMap(out);
  }

  /** The plan of one service port with its endpoints (all of them, as the slices list them). */
  public ServicePortPlan plan(ServicePortInfo svc, List<Endpoint> endpoints) {
    EndpointCategorizer.Categories cat =
        EndpointCategorizer.categorize(endpoints, svc, cfg.nodeName(), cfg.zone());
    boolean hasEndpoints = cat.hasAny();
    boolean hasLocal = !cat.local().isEmpty();

    Policy internal = svc.internalPolicyLocal() ? Policy.LOCAL : Policy.CLUSTER;
    Policy external = svc.externalPolicyLocal() ? Policy.LOCAL : Policy.CLUSTER;
    // REJECT when nothing at all can serve the port; DROP when only the Local policy leaves this
    // node without an endpoint (others may have one, and a silent drop lets the client's LB or
    // retry pick another node rather than fail at once).
    Unreachable internalVerdict = verdict(hasEndpoints, internal, hasLocal);
    Unreachable externalVerdict = verdict(hasEndpoints, external, hasLocal);

    ClusterIpMasquerade cipMasq =
        cfg.masqueradeAll()
            ? ClusterIpMasquerade.ALL
            : cfg.localDetector().isImplemented()
                ? ClusterIpMasquerade.NON_POD_SOURCES
                : ClusterIpMasquerade.NONE;
    ExternalMasquerade extMasq =
        external == Policy.LOCAL ? ExternalMasquerade.NODE_SOURCES_ONLY : ExternalMasquerade.ALL;
    boolean shortCircuit = external == Policy.LOCAL && cfg.localDetector().isImplemented();

    // Mode-independent: nftables applies the firewall even without endpoints (its firewall-check
    // runs before the no-endpoint checks); iptables adds hasEndpoints itself.
    Firewall firewall = null;
    if (!svc.loadBalancerVIPs().isEmpty() && !svc.loadBalancerSourceRanges().isEmpty()) {
      boolean fromNode = false;
      if (cfg.nodeIP() != null) {
        for (String range : svc.loadBalancerSourceRanges()) {
          fromNode |= Cidr.parse(range).contains(cfg.nodeIP());
        }
      }
      firewall = new Firewall(svc.loadBalancerSourceRanges(), fromNode);
    }

    return new ServicePortPlan(
        svc,
        cat.cluster(),
        cat.local(),
        cat.allReachable(),
        hasEndpoints,
        internal,
        external,
        !cat.cluster().isEmpty() && svc.usesClusterEndpoints(),
        hasLocal && svc.usesLocalEndpoints(),
        hasEndpoints && svc.externallyAccessible(),
        internalVerdict,
        externalVerdict,
        cipMasq,
        extMasq,
        shortCircuit,
        firewall);
  }

  private static Unreachable verdict(boolean hasEndpoints, Policy policy, boolean hasLocal) {
    if (!hasEndpoints) {
      return Unreachable.REJECT_NO_ENDPOINTS;
    }
    if (policy == Policy.LOCAL && !hasLocal) {
      return Unreachable.DROP_NO_LOCAL_ENDPOINTS;
    }
    return Unreachable.NONE;
  }
}
