package dev.svcproxy.sync.nftables;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.model.TrafficPolicy;
import dev.svcproxy.nftables.BaseChain;
import dev.svcproxy.nftables.NftChain;
import dev.svcproxy.nftables.NftElement;
import dev.svcproxy.nftables.NftObjects;
import dev.svcproxy.nftables.NftRule;
import dev.svcproxy.nftables.NftRuleset;
import dev.svcproxy.nftables.NftSet;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A hand-written stand-in for the nftables renderer, in upstream's layout (services dispatch
 * through the service-ips verdict map to a service chain, numgen to endpoint chains, DNAT there;
 * affinity sets for ClientIP affinity), with short made-up hashes: enough to drive the proxier.
 */
final class HandRuleset implements NftRender {
  static final String T = "kube-proxy";
  static final BaseChain NAT_PREROUTING = new BaseChain("nat", "prerouting", "-100");
  static final BaseChain NAT_OUTPUT = new BaseChain("nat", "output", "-100");
  static final BaseChain NAT_POSTROUTING = new BaseChain("nat", "postrouting", "100");

  /** Renders (for tests: how often ports were rendered). */
  int portRenders;

  @Override
  public NftRuleset render(ProxyState state) {
    TreeMap<ServicePortName, NftObjects> services = new TreeMap<>();
    for (ServicePortName spn : state.services().keySet()) {
      services.put(spn, port(state, spn));
    }
    return new NftRuleset("ip", T, "rules for kube-proxy", base(state), services);
  }

  @Override
  public NftObjects base(ProxyState state) {
    List<NftChain> chains = new ArrayList<>();
    chains.add(base("nat-prerouting", NAT_PREROUTING, "jump services"));
    chains.add(base("nat-output", NAT_OUTPUT, "jump services"));
    chains.add(base("nat-postrouting", NAT_POSTROUTING, "jump masquerading"));
    chains.add(regular("mark-for-masquerade", "mark set mark or 0x4000"));
    chains.add(
        regular(
            "masquerading",
            "mark and 0x4000 == 0 return",
            "mark set mark xor 0x4000",
            "masquerade fully-random"));
    chains.add(regular("services", "ip daddr . meta l4proto . th dport vmap @service-ips"));
    List<NftSet> sets =
        List.of(
            NftSet.of("cluster-ips", false, "ipv4_addr", "Active ClusterIPs"),
            NftSet.of(
                "service-ips",
                true,
                "ipv4_addr . inet_proto . inet_service : verdict",
                "ClusterIP, ExternalIP and LoadBalancer IP traffic"));
    return new NftObjects(chains, sets, List.of());
  }

  @Override
  public NftObjects servicePort(ProxyState state, ServicePortName spn) {
    return state.services().containsKey(spn) ? port(state, spn) : NftObjects.empty();
  }

  static String svcChain(ServicePortName spn) {
    return "service-" + hash(spn.toString()) + "-" + spn.namespacedName() + "/tcp/" + spn.port();
  }

  static String epChain(ServicePortName spn, Endpoint ep) {
    return "endpoint-"
        + hash(spn + ep.ip())
        + "-"
        + spn.namespacedName()
        + "/tcp/"
        + spn.port()
        + "__"
        + ep.ip()
        + "/"
        + ep.port();
  }

  static String affinitySet(ServicePortName spn, Endpoint ep) {
    return epChain(spn, ep).replaceFirst("^endpoint-", "affinity-");
  }

  private NftObjects port(ProxyState state, ServicePortName spn) {
    portRenders++;
    ServicePortInfo svc = state.services().get(spn);
    String chain = svcChain(spn);
    List<NftChain> chains = new ArrayList<>();
    List<NftSet> sets = new ArrayList<>();
    List<NftRule> svcRules = new ArrayList<>();
    svcRules.add(
        new NftRule(
            chain,
            "ip daddr "
                + svc.clusterIP()
                + " tcp dport "
                + svc.port()
                + " ip saddr != 10.0.0.0/8 jump mark-for-masquerade"));
    List<Endpoint> eps = state.endpointsOf(spn);
    List<String> vmap = new ArrayList<>();
    for (int i = 0; i < eps.size(); i++) {
      Endpoint ep = eps.get(i);
      String epc = epChain(spn, ep);
      List<NftRule> r = new ArrayList<>();
      r.add(new NftRule(epc, "ip saddr " + ep.ip() + " jump mark-for-masquerade"));
      if (svc.sessionAffinityClientIP()) {
        String aff = affinitySet(spn, ep);
        sets.add(
            new NftSet(
                aff,
                false,
                "ipv4_addr",
                List.of("dynamic", "timeout"),
                svc.stickyMaxAgeSeconds() + "s",
                ""));
        svcRules.add(new NftRule(chain, "ip saddr @" + aff + " goto " + epc));
        r.add(new NftRule(epc, "update @" + aff + " { ip saddr }"));
      }
      r.add(new NftRule(epc, "meta l4proto tcp dnat to " + ep.ip() + ":" + ep.port()));
      chains.add(NftChain.regular(epc, r));
      vmap.add(i + " : goto " + epc);
    }
    if (!vmap.isEmpty()) {
      svcRules.add(
          new NftRule(
              chain,
              "numgen random mod " + eps.size() + " vmap { " + String.join(", ", vmap) + " }"));
    }
    chains.add(0, NftChain.regular(chain, svcRules));
    List<NftElement> elements = new ArrayList<>();
    elements.add(NftElement.of("cluster-ips", svc.clusterIP()));
    elements.add(
        new NftElement(
            "service-ips",
            List.of(svc.clusterIP(), "tcp", String.valueOf(svc.port())),
            List.of("goto " + chain),
            spn.toString()));
    return new NftObjects(chains, sets, elements);
  }

  private static NftChain base(String name, BaseChain b, String... rules) {
    List<NftRule> r = new ArrayList<>();
    for (String s : rules) {
      r.add(new NftRule(name, s));
    }
    return new NftChain(name, Optional.of(b), "", r);
  }

  private static NftChain regular(String name, String... rules) {
    List<NftRule> r = new ArrayList<>();
    for (String s : rules) {
      r.add(new NftRule(name, s));
    }
    return NftChain.regular(name, r);
  }

  private static String hash(String s) {
    return String.format("%08X", s.hashCode() & 0xffffffffL);
  }

  /** A state builder: service "ns/NAME" port p (TCP) on clusterIP:80 with endpoints IPs:8080. */
  static final class States {
    private final TreeMap<ServicePortName, ServicePortInfo> services = new TreeMap<>();
    private final Map<ServicePortName, List<Endpoint>> endpoints = new HashMap<>();

    States service(String name, String clusterIP, String... endpointIps) {
      return service(name, clusterIP, 0, endpointIps);
    }

    States service(String name, String clusterIP, int affinitySeconds, String... endpointIps) {
      ServicePortName spn = new ServicePortName("ns", name, "p", Protocol.TCP);
      services.put(
          spn,
          new ServicePortInfo(
              spn,
              clusterIP,
              80,
              0,
              List.of(),
              List.of(),
              List.of(),
              0,
              affinitySeconds > 0,
              affinitySeconds,
              TrafficPolicy.CLUSTER,
              TrafficPolicy.CLUSTER));
      List<Endpoint> eps = new ArrayList<>();
      for (String ip : endpointIps) {
        eps.add(Endpoint.ready(ip, 8080, "node1"));
      }
      endpoints.put(spn, eps);
      return this;
    }

    ProxyState build() {
      return new ProxyState(services, endpoints);
    }
  }

  static ServicePortName spn(String name) {
    return new ServicePortName("ns", name, "p", Protocol.TCP);
  }
}
