package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.Check;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.NodeFacts;
import dev.svcproxy.doctor.Severity;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.trace.NodeState;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Routing the Service data plane depends on: a route for the Service VIPs the node itself connects
 * to, a route to every endpoint, and pod ranges apart from the service range.
 */
public final class RoutingCheck implements Check {
  static final Catalogue.Entry NO_DEFAULT_ROUTE =
      new Catalogue.Entry(
          "no-default-route",
          Severity.ERROR,
          "No route for the Service VIPs (no default route)",
          List.of("https://kubernetes.io/docs/concepts/services-networking/service/"));
  static final Catalogue.Entry NO_ROUTE_TO_ENDPOINT =
      new Catalogue.Entry(
          "no-route-to-endpoint",
          Severity.ERROR,
          "An endpoint's pod network has no route on this node",
          List.of("book: host-gw routes"));
  static final Catalogue.Entry POD_CIDR_OVERLAPS_SERVICE_CIDR =
      new Catalogue.Entry(
          "pod-cidr-overlaps-service-cidr",
          Severity.ERROR,
          "The pod network overlaps the service network",
          List.of(
              "https://kubernetes.io/docs/concepts/services-networking/cluster-ip-allocation/"));

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(NO_DEFAULT_ROUTE, NO_ROUTE_TO_ENDPOINT, POD_CIDR_OVERLAPS_SERVICE_CIDR);
  }

  @Override
  public List<Finding> run(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    NodeState node = ctx.node();
    if (node.routes().isEmpty()) {
      ctx.assume("no routes (no ip-route.json): routing to VIPs and endpoints not checked");
    } else if (InputCoverage.of(ctx)
        .whole(NodeModel.routeFile(ctx.files()), "routing to VIPs and endpoints")) {
      // A route absent from filtered `ip route` output may only be unshown.
      noDefaultRoute(ctx).ifPresent(out::add);
      out.addAll(noRouteToEndpoint(ctx));
    }
    out.addAll(overlaps(ctx));
    return out;
  }

  private static Evidence routes(DoctorContext ctx, String text) {
    return ctx.files().at(NodeModel.routeFile(ctx.files()), 0, text);
  }

  /**
   * The node's own connections to a ClusterIP are routed before OUTPUT's DNAT: without a route
   * covering the VIP, connect() fails with ENETUNREACH before any rule sees the packet.
   */
  private static Optional<Finding> noDefaultRoute(DoctorContext ctx) {
    NodeState node = ctx.node();
    boolean hasDefault =
        node.routes().stream()
            .anyMatch(r -> r.dst().equals("0.0.0.0/0") && r.type().equals("unicast"));
    if (hasDefault) {
      return Optional.empty();
    }
    Map<String, NodeModel.ProxyVip> unrouted = new LinkedHashMap<>();
    for (NodeModel.ProxyVip s : NodeModel.vips(ctx)) {
      // A VIP bound on the node (kube-ipvs0 in IPVS mode) has its local route, pasted or not.
      if (!ProxyRules.isNodeAddress(node, s.vip()) && !NodeModel.lookup(node, s.vip()).usable()) {
        unrouted.putIfAbsent(s.vip(), s);
      }
    }
    if (unrouted.isEmpty()) {
      return Optional.empty();
    }
    List<Evidence> ev = new ArrayList<>();
    ev.add(
        routes(
            ctx,
            "no default route in any table the node looks up, and no route covers "
                + String.join(", ", unrouted.keySet())));
    unrouted.values().stream().limit(5).forEach(s -> ev.add(s.evidence()));
    String some = unrouted.keySet().iterator().next();
    return Optional.of(
        NO_DEFAULT_ROUTE.finding(
            "The node has no default route and no route to "
                + unrouted.size()
                + " Service VIP(s) such as "
                + some
                + ": its own connections to them fail before NAT",
            ev,
            "A connection the node itself opens (kubelet probes, host-network pods, the node's"
                + " processes) is routed before the nat OUTPUT chain rewrites the VIP, so with no"
                + " route covering the VIP connect() fails at once with 'Network is unreachable'"
                + " (ENETUNREACH) and no kube-proxy rule ever sees the packet. Traffic from pods"
                + " and from outside is DNATed in PREROUTING before routing and still works.",
            "Give the node a default route (ip route add default via <gateway>), or at least a"
                + " route for the service CIDR, e.g. ip route add <service-cidr> dev <node"
                + " interface>."));
  }

  private static List<Finding> noRouteToEndpoint(DoctorContext ctx) {
    NodeState node = ctx.node();
    List<Cidr> podRanges = new ArrayList<>(podRanges(ctx.facts()));
    podRanges.addAll(NodeModel.masqueradeExceptions(node));
    List<NodeModel.ProxyEndpoint> eps = NodeModel.endpoints(ctx);
    // A node that holds a specific route to some other node's pods (host-gw, a tunnel device)
    // routes the pod network itself: an endpoint that only the default route covers is then a
    // missing route, not the cloud's job.
    boolean routesPods =
        eps.stream()
            .map(e -> NodeModel.lookup(node, e.ip()))
            .anyMatch(
                l ->
                    l.usable()
                        && !l.viaDefault()
                        && !l.route().gateway().isEmpty()
                        && !l.route().type().equals("local"));
    List<Finding> out = new ArrayList<>();
    Map<String, NodeModel.ProxyEndpoint> seen = new LinkedHashMap<>();
    for (NodeModel.ProxyEndpoint e : eps) {
      seen.putIfAbsent(e.ip(), e);
    }
    for (NodeModel.ProxyEndpoint e : seen.values()) {
      NodeModel.Lookup l = NodeModel.lookup(node, e.ip());
      boolean inPods = podRanges.stream().anyMatch(c -> c.contains(e.ip()));
      if (l.usable() && !(l.viaDefault() && (routesPods || inPods))) {
        continue;
      }
      Severity sev = l.usable() && !routesPods ? Severity.WARNING : Severity.ERROR;
      String route =
          l.route() == null
              ? "no route to " + e.ip() + " in any table the node looks up"
              : "route to " + e.ip() + ": " + NodeModel.describe(l.route());
      List<Evidence> ev = new ArrayList<>();
      ev.add(e.evidence());
      ev.add(routes(ctx, route));
      String why;
      if (!l.usable()) {
        why =
            "Packets DNATed to "
                + e.ip()
                + " are answered with ICMP unreachable (or the node's own connections fail with"
                + " ENETUNREACH): every connection the Service sends to this endpoint fails.";
      } else {
        why =
            "Packets DNATed to "
                + e.ip()
                + " leave by the default route"
                + (l.route().gateway().isEmpty() ? "" : " to " + l.route().gateway())
                + (routesPods
                    ? ", while this node routes the other pod subnets itself: the gateway does"
                        + " not lead to that pod's node"
                    : ": unless the network behind that gateway routes pod subnets (cloud VPC"
                        + " routes), it does not lead to that pod's node")
                + ", and connections the Service sends to this endpoint time out.";
      }
      out.add(
          NO_ROUTE_TO_ENDPOINT.finding(
              sev,
              "Endpoint "
                  + e.ip()
                  + (e.port() > 0 ? ":" + e.port() : "")
                  + " ("
                  + e.where()
                  + ") has no route to its pod network on this node",
              ev,
              why,
              "Restore the route to the endpoint's pod subnet (the CNI's job: host-gw route"
                  + " 'ip route add <podCIDR of its node> via <its node IP>', or the overlay"
                  + " device's route); check that the CNI agent runs on this node."));
    }
    return out;
  }

  private static List<Cidr> podRanges(NodeFacts f) {
    List<Cidr> out = new ArrayList<>(f.clusterCidrs());
    out.addAll(f.podCidrs());
    f.flag("--cluster-cidr")
        .ifPresent(
            v -> {
              for (String s : v.split(",")) {
                try {
                  out.add(Cidr.parseSloppy(s));
                } catch (IllegalArgumentException e) {
                  // A malformed flag is the proxy checks' business; nothing to compare here.
                }
              }
            });
    return out;
  }

  private static List<Finding> overlaps(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    NodeFacts f = ctx.facts();
    List<Cidr> pods = podRanges(f);
    for (Cidr svc : f.serviceCidrs()) {
      for (Cidr pod : pods) {
        if (NodeModel.overlap(svc, pod)) {
          List<Evidence> ev = new ArrayList<>();
          ev.add(factLine(ctx, "serviceCIDRs", svc));
          ev.add(factLine(ctx, pod, "podCIDRs", "clusterCIDRs"));
          out.add(overlapFinding(svc.toString(), pod.toString(), ev));
          return out;
        }
      }
    }
    // From the node itself: a Service VIP inside the subnet of the pods' bridge.
    NodeState node = ctx.node();
    for (NodeModel.Bridge b : NodeModel.bridges(node)) {
      for (Cidr sub : b.subnets()) {
        for (NodeModel.ProxyVip s : NodeModel.vips(ctx)) {
          if (sub.contains(s.vip())) {
            List<Evidence> ev = new ArrayList<>();
            ev.add(s.evidence());
            ev.add(
                ctx.files()
                    .at(
                        NodeModel.addrFile(ctx.files()),
                        0,
                        b.name()
                            + " "
                            + b.address()
                            + " (bridge of "
                            + String.join(", ", b.ports())
                            + ")"));
            out.add(overlapFinding("Service VIP " + s.vip(), "pod subnet " + sub, ev));
            return out;
          }
        }
      }
    }
    return out;
  }

  private static Evidence factLine(DoctorContext ctx, Cidr c, String... fields) {
    for (String field : fields) {
      Optional<Evidence> e =
          ctx.files().first(NodeFacts.FILE, l -> l.strip().startsWith(field + ":"));
      if (e.isPresent()) {
        return e.get();
      }
    }
    return ctx.files().at(NodeFacts.FILE, 0, "pod range " + c);
  }

  private static Evidence factLine(DoctorContext ctx, String field, Cidr c) {
    return factLine(ctx, c, field);
  }

  private static Finding overlapFinding(String svc, String pod, List<Evidence> ev) {
    return POD_CIDR_OVERLAPS_SERVICE_CIDR.finding(
        "The service range (" + svc + ") overlaps the pod range (" + pod + ")",
        ev,
        "A pod address that is also a Service VIP is captured by kube-proxy's rule for that VIP:"
            + " connections meant for the pod are DNATed to the Service's endpoints, and"
            + " masquerade decisions keyed on the pod range (--cluster-cidr) treat Service traffic"
            + " as pod traffic. Which one a packet reaches depends on the port, not on intent.",
        "Give pods and Services disjoint ranges: change the CNI's pod CIDR (or the cluster's"
            + " --cluster-cidr / node podCIDRs) or the API server's --service-cluster-ip-range,"
            + " and recreate the Services or pods whose addresses collide.");
  }
}
