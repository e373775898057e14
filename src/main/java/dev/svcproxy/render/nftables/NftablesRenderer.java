package dev.svcproxy.render.nftables;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.nftables.BaseChain;
import dev.svcproxy.nftables.NftChain;
import dev.svcproxy.nftables.NftElement;
import dev.svcproxy.nftables.NftObjects;
import dev.svcproxy.nftables.NftRule;
import dev.svcproxy.nftables.NftRuleset;
import dev.svcproxy.nftables.NftSet;
import dev.svcproxy.nftables.NftTransaction;
import dev.svcproxy.nftables.NftVerb;
import dev.svcproxy.plan.ServicePlanner;
import dev.svcproxy.plan.ServicePortPlan;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Renders a ProxyState into the {@code ip kube-proxy} table upstream kube-proxy's nftables mode
 * keeps (base chains, verdict maps, per-service-port chains and elements), split into the fixed
 * part and each service port's part so that a partial sync re-renders only what changed. A pure
 * function; IPv4 only.
 */
public final class NftablesRenderer {
  public static final String FAMILY = "ip";
  public static final String TABLE = "kube-proxy";
  public static final String TABLE_COMMENT = "rules for kube-proxy";

  // Base chains and the helper chains they jump to.
  static final String FILTER_PREROUTING_PRE_DNAT = "filter-prerouting-pre-dnat";
  static final String FILTER_OUTPUT_PRE_DNAT = "filter-output-pre-dnat";
  static final String FILTER_INPUT = "filter-input";
  static final String FILTER_FORWARD = "filter-forward";
  static final String FILTER_OUTPUT = "filter-output";
  static final String NAT_PREROUTING = "nat-prerouting";
  static final String NAT_OUTPUT = "nat-output";
  static final String NAT_POSTROUTING = "nat-postrouting";
  static final String SERVICES = "services";
  static final String SERVICE_ENDPOINTS_CHECK = "service-endpoints-check";
  static final String NODEPORT_ENDPOINTS_CHECK = "nodeport-endpoints-check";
  static final String REJECT_CHAIN = "reject-chain";
  static final String CLUSTER_IPS_CHECK = "cluster-ips-check";
  static final String FIREWALL_CHECK = "firewall-check";
  static final String MARK_MASQ = "mark-for-masquerade";
  static final String MASQUERADING = "masquerading";

  // Sets and maps.
  static final String CLUSTER_IPS = "cluster-ips";
  static final String NODEPORT_IPS = "nodeport-ips";
  static final String SERVICE_IPS = "service-ips";
  static final String SERVICE_NODEPORTS = "service-nodeports";
  static final String NO_ENDPOINT_SERVICES = "no-endpoint-services";
  static final String NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports";
  static final String FIREWALL_IPS = "firewall-ips";

  private static final String IPV4 = "ipv4_addr";
  private static final String DEST_KEY = IPV4 + " . inet_proto . inet_service : verdict";
  private static final String PORT_KEY = "inet_proto . inet_service : verdict";
  private static final String NEW = "ct state new ";

  private final ProxyConfig cfg;
  private final NftablesOptions options;
  private final ServicePlanner planner;
  private final String mark;

  public NftablesRenderer(ProxyConfig cfg, NftablesOptions opts) {
    this.cfg = cfg;
    this.options = opts;
    this.planner = new ServicePlanner(cfg);
    this.mark = cfg.masqueradeMark();
  }

  /** The planner of this renderer's configuration. */
  public ServicePlanner planner() {
    return planner;
  }

  /** The whole table, as a full sync writes it: {@link #base} plus every port's objects. */
  public NftRuleset render(ProxyState state) {
    SortedMap<ServicePortName, NftObjects> ports = new TreeMap<>();
    for (ServicePortPlan plan : planner.plan(state).values()) {
      ports.put(plan.name(), servicePort(plan));
    }
    return new NftRuleset(FAMILY, TABLE, TABLE_COMMENT, base(state), ports);
  }

  /**
   * The fixed part of the table: base chains and their jumps, the helper chains, the shared sets
   * and maps (empty of service elements), the NodePort addresses and the service-CIDR drop rule. It
   * depends on the state only through its service CIDRs.
   */
  public NftObjects base(ProxyState state) {
    List<NftSet> sets = new ArrayList<>();
    List<NftChain> chains = new ArrayList<>();
    List<NftElement> elements = new ArrayList<>();
    boolean matchAll = options.nodePortsMatchAll(cfg);

    sets.add(NftSet.of(CLUSTER_IPS, false, IPV4, "Active ClusterIPs"));
    if (!matchAll) {
      sets.add(NftSet.of(NODEPORT_IPS, false, IPV4, "IPs that accept NodePort traffic"));
      for (String ip : nodePortIPs()) {
        elements.add(NftElement.of(NODEPORT_IPS, ip));
      }
    }
    sets.add(
        NftSet.of(
            NO_ENDPOINT_SERVICES,
            true,
            DEST_KEY,
            "vmap to drop or reject packets to services with no endpoints"));
    sets.add(
        NftSet.of(
            NO_ENDPOINT_NODEPORTS,
            true,
            PORT_KEY,
            "vmap to drop or reject packets to service nodeports with no endpoints"));
    sets.add(
        NftSet.of(
            FIREWALL_IPS,
            true,
            DEST_KEY,
            "destinations that are subject to LoadBalancerSourceRanges"));
    sets.add(
        NftSet.of(
            SERVICE_IPS, true, DEST_KEY, "ClusterIP, ExternalIP and LoadBalancer IP traffic"));
    sets.add(NftSet.of(SERVICE_NODEPORTS, true, PORT_KEY, "NodePort traffic"));

    // Filtering runs on pre-DNAT destinations where it must see service IPs (LB source ranges),
    // and at filter priority where rejecting is allowed on every kernel (input/forward/output).
    chains.add(
        base(
            FILTER_PREROUTING_PRE_DNAT,
            "filter",
            "prerouting",
            "-110",
            NEW + "jump " + FIREWALL_CHECK));
    chains.add(
        base(FILTER_OUTPUT_PRE_DNAT, "filter", "output", "-110", NEW + "jump " + FIREWALL_CHECK));
    chains.add(
        base(
            FILTER_INPUT,
            "filter",
            "input",
            "0",
            NEW + "jump " + NODEPORT_ENDPOINTS_CHECK,
            NEW + "jump " + SERVICE_ENDPOINTS_CHECK));
    chains.add(
        base(
            FILTER_FORWARD,
            "filter",
            "forward",
            "0",
            NEW + "jump " + SERVICE_ENDPOINTS_CHECK,
            NEW + "jump " + CLUSTER_IPS_CHECK));
    chains.add(
        base(
            FILTER_OUTPUT,
            "filter",
            "output",
            "0",
            NEW + "jump " + SERVICE_ENDPOINTS_CHECK,
            NEW + "jump " + CLUSTER_IPS_CHECK));
    chains.add(base(NAT_PREROUTING, "nat", "prerouting", "-100", "jump " + SERVICES));
    chains.add(base(NAT_OUTPUT, "nat", "output", "-100", "jump " + SERVICES));
    chains.add(base(NAT_POSTROUTING, "nat", "postrouting", "100", "jump " + MASQUERADING));

    List<NftRule> clusterIpsCheck = new ArrayList<>();
    clusterIpsCheck.add(
        new NftRule(
            CLUSTER_IPS_CHECK,
            "ip daddr @" + CLUSTER_IPS + " reject",
            "Reject traffic to invalid ports of ClusterIPs"));
    List<String> cidrs = new ArrayList<>();
    for (Cidr c : state.serviceCidrs()) {
      if (!c.ipv6()) {
        cidrs.add(c.toString());
      }
    }
    if (!cidrs.isEmpty()) {
      clusterIpsCheck.add(
          new NftRule(
              CLUSTER_IPS_CHECK,
              "ip daddr { " + String.join(",", cidrs) + " } drop",
              "Drop traffic to unallocated ClusterIPs"));
    }
    chains.add(NftChain.regular(CLUSTER_IPS_CHECK, clusterIpsCheck));
    chains.add(regular(FIREWALL_CHECK, "ip daddr . meta l4proto . th dport vmap @" + FIREWALL_IPS));
    chains.add(regular(MARK_MASQ, "mark set mark or " + mark));
    chains.add(
        regular(
            MASQUERADING,
            "mark and " + mark + " == 0 return",
            "mark set mark xor " + mark,
            "masquerade fully-random"));
    String localhost = "ip daddr != 127.0.0.0/8";
    chains.add(
        regular(
            NODEPORT_ENDPOINTS_CHECK,
            (matchAll ? localhost : "ip daddr @" + NODEPORT_IPS)
                + " meta l4proto . th dport vmap @"
                + NO_ENDPOINT_NODEPORTS));
    chains.add(
        new NftChain(
            REJECT_CHAIN,
            Optional.empty(),
            "helper for @no-endpoint-services / @no-endpoint-nodeports",
            List.of(new NftRule(REJECT_CHAIN, "reject"))));
    chains.add(
        regular(
            SERVICES,
            "ip daddr . meta l4proto . th dport vmap @" + SERVICE_IPS,
            (matchAll ? "fib daddr type local " + localhost : "ip daddr @" + NODEPORT_IPS)
                + " meta l4proto . th dport vmap @"
                + SERVICE_NODEPORTS));
    chains.add(
        regular(
            SERVICE_ENDPOINTS_CHECK,
            "ip daddr . meta l4proto . th dport vmap @" + NO_ENDPOINT_SERVICES));
    return new NftObjects(chains, sets, elements);
  }

  /** The node addresses in nodeport-ips: those in the NodePort CIDRs, never loopback. */
  private List<String> nodePortIPs() {
    List<Cidr> cidrs = options.nodePortCidrs(cfg);
    List<String> out = new ArrayList<>();
    List<String> candidates = new ArrayList<>(cfg.nodeIPs());
    if (cfg.nodeIP() != null && !cfg.nodeIP().isEmpty() && !candidates.contains(cfg.nodeIP())) {
      candidates.add(cfg.nodeIP());
    }
    for (String ip : candidates) {
      // Upstream refuses localhost NodePorts in nftables mode (no route_localnet).
      if (!ip.startsWith("127.")
          && !out.contains(ip)
          && cidrs.stream().anyMatch(c -> c.contains(ip))) {
        out.add(ip);
      }
    }
    return out;
  }

  /**
   * What the service port {@code name} adds to the table: its chains, its affinity sets and its
   * elements in the shared sets and maps. Empty when the state has no such port. Two ports of one
   * Service both hold the Service's cluster-ips element: one element in the kernel.
   */
  public NftObjects servicePort(ProxyState state, ServicePortName name) {
    ServicePortInfo svc = state.services().get(name);
    if (svc == null) {
      return NftObjects.empty();
    }
    return servicePort(planner.plan(svc, state.endpointsOf(name)));
  }

  /** What one planned service port adds to the table. */
  public NftObjects servicePort(ServicePortPlan plan) {
    ServicePortInfo svc = plan.service();
    ServicePortName spn = svc.name();
    String spnText = spn.toString();
    String proto = svc.protocol().lower();
    String port = Integer.toString(svc.port());
    String base = NftChainNames.servicePortBase(spn, proto);
    String clusterChain = NftChainNames.SERVICE + base;
    String localChain = NftChainNames.LOCAL + base;
    String externalChain = NftChainNames.EXTERNAL + base;
    String fwChain = NftChainNames.FIREWALL + base;
    String internalChain =
        plan.internalPolicy() == ServicePortPlan.Policy.LOCAL ? localChain : clusterChain;
    String externalPolicyChain =
        plan.externalPolicy() == ServicePortPlan.Policy.LOCAL ? localChain : clusterChain;
    boolean hasEndpoints = plan.hasEndpoints();
    boolean hasInternal = plan.hasInternalEndpoints();
    boolean hasExternal = plan.hasExternalEndpoints();
    String internalVerdict = verdict(plan.internalUnreachable());
    String externalVerdict = verdict(plan.externalUnreachable());
    boolean affinity = plan.sessionAffinity() == ServicePortPlan.SessionAffinity.CLIENT_IP;

    Map<String, List<NftRule>> chains = new LinkedHashMap<>();
    List<NftSet> sets = new ArrayList<>();
    List<NftElement> elements = new ArrayList<>();

    // Chain declarations first, in upstream's order, so that the chains exist even when empty.
    for (Endpoint ep : plan.reachableEndpoints()) {
      chains.put(endpointChain(spn, proto, ep), new ArrayList<>());
    }
    if (plan.usesClusterChain()) {
      chains.put(clusterChain, new ArrayList<>());
    }
    if (plan.usesLocalChain()) {
      chains.put(localChain, new ArrayList<>());
    }
    if (plan.usesExternalChain()) {
      chains.put(externalChain, new ArrayList<>());
    }
    if (plan.usesFirewall()) {
      chains.put(fwChain, new ArrayList<>());
    }

    elements.add(NftElement.of(CLUSTER_IPS, svc.clusterIP()));
    if (hasInternal) {
      elements.add(dest(SERVICE_IPS, svc.clusterIP(), proto, port, "goto " + internalChain, ""));
    } else {
      elements.add(
          dest(NO_ENDPOINT_SERVICES, svc.clusterIP(), proto, port, internalVerdict, spnText));
    }
    for (String ip : svc.externalIPs()) {
      if (hasEndpoints) {
        elements.add(dest(SERVICE_IPS, ip, proto, port, "goto " + externalChain, ""));
      }
      if (!hasExternal) {
        elements.add(dest(NO_ENDPOINT_SERVICES, ip, proto, port, externalVerdict, spnText));
      }
    }
    for (String ip : svc.loadBalancerVIPs()) {
      if (hasEndpoints) {
        elements.add(dest(SERVICE_IPS, ip, proto, port, "goto " + externalChain, ""));
      }
      if (plan.usesFirewall()) {
        elements.add(dest(FIREWALL_IPS, ip, proto, port, "goto " + fwChain, ""));
      }
    }
    if (!hasExternal) {
      for (String ip : svc.loadBalancerVIPs()) {
        elements.add(dest(NO_ENDPOINT_SERVICES, ip, proto, port, externalVerdict, spnText));
      }
    }
    if (svc.nodePort() != 0) {
      String np = Integer.toString(svc.nodePort());
      if (hasEndpoints) {
        elements.add(
            new NftElement(
                SERVICE_NODEPORTS, List.of(proto, np), List.of("goto " + externalChain), ""));
      }
      if (!hasExternal) {
        elements.add(
            new NftElement(
                NO_ENDPOINT_NODEPORTS, List.of(proto, np), List.of(externalVerdict), spnText));
      }
    }

    if (hasInternal) {
      switch (plan.clusterIpMasquerade()) {
        case ALL ->
            add(chains, internalChain, "ip daddr " + svc.clusterIP() + " jump " + MARK_MASQ, "");
        case NON_POD_SOURCES ->
            add(
                chains,
                internalChain,
                "ip daddr " + svc.clusterIP() + " " + ifLocal(false) + " jump " + MARK_MASQ,
                "");
        case NONE -> {}
      }
    }

    if (plan.usesExternalChain()) {
      if (plan.externalMasquerade() == ServicePortPlan.ExternalMasquerade.ALL) {
        // The endpoint may be on another node: its reply must come back through this one.
        add(chains, externalChain, "jump " + MARK_MASQ, "");
      } else {
        if (plan.shortCircuitPods()) {
          // A pod reaching its own cluster's external address behaves as if it went out to
          // the LB and came back: every endpoint, and no SNAT needed.
          add(
              chains,
              externalChain,
              ifLocal(true) + " goto " + clusterChain,
              "short-circuit pod traffic");
        }
        // The node's own traffic has a local (often the VIP itself) source: masquerade it and
        // let it use every endpoint.
        add(
            chains,
            externalChain,
            "fib saddr type local jump " + MARK_MASQ,
            "masquerade local traffic");
        add(
            chains,
            externalChain,
            "fib saddr type local goto " + clusterChain,
            "short-circuit local traffic");
      }
      if (hasExternal) {
        add(chains, externalChain, "goto " + externalPolicyChain, "");
      }
    }

    if (plan.usesFirewall()) {
      List<String> sources = new ArrayList<>();
      for (String range : plan.firewall().sourceRanges()) {
        sources.add(Cidr.parseSloppy(range).toString());
      }
      if (plan.firewall().allowLoadBalancerIpSources()) {
        // The node reaching its own LB IP may do so with the VIP as source (VIP bound locally).
        sources.addAll(svc.loadBalancerVIPs());
      }
      add(chains, fwChain, "ip saddr != { " + String.join(" , ", sources) + " } drop", "");
    }

    if (affinity) {
      for (Endpoint ep : plan.reachableEndpoints()) {
        sets.add(
            new NftSet(
                affinitySet(spn, proto, ep),
                false,
                IPV4,
                List.of("dynamic", "timeout"),
                plan.affinityTimeoutSeconds() + "s",
                ""));
      }
    }

    if (plan.usesClusterChain()) {
      serviceToEndpoints(chains, clusterChain, spn, proto, plan.clusterEndpoints(), affinity);
    }
    if (plan.usesLocalChain()) {
      serviceToEndpoints(chains, localChain, spn, proto, plan.localEndpoints(), affinity);
    }

    for (Endpoint ep : plan.reachableEndpoints()) {
      String chain = endpointChain(spn, proto, ep);
      // Hairpin: an endpoint reaching itself through the service must be SNATed, or it would
      // answer itself directly and the client would drop the reply.
      add(chains, chain, "ip saddr " + ep.ip() + " jump " + MARK_MASQ, "");
      if (affinity) {
        add(chains, chain, "update @" + affinitySet(spn, proto, ep) + " { ip saddr }", "");
      }
      add(chains, chain, "meta l4proto " + proto + " dnat to " + ep.address(), "");
    }

    List<NftChain> out = new ArrayList<>();
    chains.forEach((n, rules) -> out.add(NftChain.regular(n, rules)));
    return new NftObjects(out, sets, elements);
  }

  private static void serviceToEndpoints(
      Map<String, List<NftRule>> chains,
      String chain,
      ServicePortName spn,
      String proto,
      List<Endpoint> eps,
      boolean affinity) {
    if (affinity) {
      for (Endpoint ep : eps) {
        add(
            chains,
            chain,
            "ip saddr @" + affinitySet(spn, proto, ep) + " goto " + endpointChain(spn, proto, ep),
            "");
      }
    }
    StringBuilder vmap =
        new StringBuilder("numgen random mod ").append(eps.size()).append(" vmap {");
    for (int i = 0; i < eps.size(); i++) {
      vmap.append(i == 0 ? " " : " , ")
          .append(i)
          .append(" : goto ")
          .append(endpointChain(spn, proto, eps.get(i)));
    }
    add(chains, chain, vmap.append(" }").toString(), "");
  }

  static String endpointChain(ServicePortName spn, String proto, Endpoint ep) {
    return NftChainNames.ENDPOINT + NftChainNames.endpointBase(spn, proto, ep.address());
  }

  static String affinitySet(ServicePortName spn, String proto, Endpoint ep) {
    return NftChainNames.AFFINITY + NftChainNames.endpointBase(spn, proto, ep.address());
  }

  /** The no-endpoint map's verdict: reject when nothing serves the port, drop for Local. */
  private static String verdict(ServicePortPlan.Unreachable u) {
    return switch (u) {
      case NONE -> "";
      case REJECT_NO_ENDPOINTS -> "goto " + REJECT_CHAIN;
      case DROP_NO_LOCAL_ENDPOINTS -> "drop";
    };
  }

  /**
   * The local-traffic detector's nft match: IfLocalNFT ({@code local}) or IfNotLocalNFT. Interfaces
   * match by name ({@code iifname}), as upstream since kubernetes#134024: {@code iif} resolves the
   * name when the rule is loaded, so a missing bridge or a "veth*" prefix made nft refuse it.
   */
  private String ifLocal(boolean local) {
    LocalTrafficDetector d = cfg.localDetector();
    String not = local ? "" : "!= ";
    return switch (d.mode()) {
      case CLUSTER_CIDR, NODE_CIDR -> "ip saddr " + not + d.value();
      case BRIDGE_INTERFACE -> "iifname " + not + d.value();
      case INTERFACE_NAME_PREFIX -> "iifname " + not + d.value() + "*";
    };
  }

  private static NftElement dest(
      String map, String ip, String proto, String port, String value, String comment) {
    return new NftElement(map, List.of(ip, proto, port), List.of(value), comment);
  }

  private static void add(
      Map<String, List<NftRule>> chains, String chain, String body, String comment) {
    chains.computeIfAbsent(chain, k -> new ArrayList<>()).add(new NftRule(chain, body, comment));
  }

  private static NftChain base(
      String name, String type, String hook, String priority, String... rules) {
    List<NftRule> rs = new ArrayList<>();
    for (String r : rules) {
      rs.add(new NftRule(name, r));
    }
    return new NftChain(name, Optional.of(new BaseChain(type, hook, priority)), "", rs);
  }

  private static NftChain regular(String name, String... rules) {
    List<NftRule> rs = new ArrayList<>();
    for (String r : rules) {
      rs.add(new NftRule(name, r));
    }
    return NftChain.regular(name, rs);
  }

  /**
   * The transaction a full sync sends to a node without the table: the table, its sets and maps,
   * every chain, then the rules, then the elements (each distinct element once), so that nothing
   * names a chain or set before it exists.
   */
  public static NftTransaction fullSyncTransaction(NftRuleset ruleset) {
    NftTransaction tx = NftTransaction.on(ruleset);
    NftObjects all = ruleset.all();
    tx.table(NftVerb.ADD, ruleset.comment());
    Set<String> seenSets = new LinkedHashSet<>();
    for (NftSet s : all.sets()) {
      if (seenSets.add(s.name())) {
        tx.set(NftVerb.ADD, s);
      }
    }
    for (NftChain c : all.chains()) {
      tx.chain(NftVerb.ADD, c);
    }
    for (NftChain c : all.chains()) {
      c.rules().forEach(tx::addRule);
    }
    Set<NftElement> seen = new LinkedHashSet<>();
    for (NftElement e : all.elements()) {
      if (seen.add(e)) {
        tx.element(NftVerb.ADD, e);
      }
    }
    return tx;
  }
}
