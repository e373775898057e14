package dev.svcproxy.render.ipvs;

import static dev.svcproxy.render.ipvs.IpvsSets.CLUSTER_IP;
import static dev.svcproxy.render.ipvs.IpvsSets.EXTERNAL_IP;
import static dev.svcproxy.render.ipvs.IpvsSets.EXTERNAL_IP_LOCAL;
import static dev.svcproxy.render.ipvs.IpvsSets.HEALTH_CHECK_NODE_PORT;
import static dev.svcproxy.render.ipvs.IpvsSets.IPVS_IPS;
import static dev.svcproxy.render.ipvs.IpvsSets.LOAD_BALANCER;
import static dev.svcproxy.render.ipvs.IpvsSets.LOAD_BALANCER_FW;
import static dev.svcproxy.render.ipvs.IpvsSets.LOAD_BALANCER_LOCAL;
import static dev.svcproxy.render.ipvs.IpvsSets.LOAD_BALANCER_SOURCE_CIDR;
import static dev.svcproxy.render.ipvs.IpvsSets.LOAD_BALANCER_SOURCE_IP;
import static dev.svcproxy.render.ipvs.IpvsSets.LOOP_BACK;
import static dev.svcproxy.render.ipvs.IpvsSets.NODE_PORT_LOCAL_SCTP;
import static dev.svcproxy.render.ipvs.IpvsSets.NODE_PORT_LOCAL_TCP;
import static dev.svcproxy.render.ipvs.IpvsSets.NODE_PORT_LOCAL_UDP;
import static dev.svcproxy.render.ipvs.IpvsSets.NODE_PORT_SCTP;
import static dev.svcproxy.render.ipvs.IpvsSets.NODE_PORT_TCP;
import static dev.svcproxy.render.ipvs.IpvsSets.NODE_PORT_UDP;

import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.ipvs.RealServer;
import dev.svcproxy.ipvs.VirtualServer;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.RuleBuilder;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.netfilter.TableRule;
import dev.svcproxy.netfilter.Value;
import dev.svcproxy.plan.ServicePlanner;
import dev.svcproxy.plan.ServicePortPlan;
import dev.svcproxy.render.iptables.MasqueradeRules;
import dev.svcproxy.render.ipvs.IpvsState.Sysctl;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Renders what kube-proxy's IPVS proxier (pkg/proxy/ipvs/proxier.go, syncProxyRules) makes the
 * kernel hold for a snapshot: kube-ipvs0 addresses, ipsets, virtual and real servers, the iptables
 * chains of IPVS mode, the jump rules and the sysctls. A pure function of its inputs; endpoint
 * choice per traffic policy comes from {@link ServicePlanner}.
 *
 * <p>Where upstream iterates Go maps and sets, the order here is fixed: service ports in name
 * order; per port its ClusterIP, external IPs, LB IPs, then NodePort servers; set entries in the
 * order first met.
 */
public final class IpvsRenderer {
  // Chains (pkg/proxy/ipvs/proxier.go constants).
  public static final String SERVICES = "KUBE-SERVICES";
  public static final String PROXY_FIREWALL = "KUBE-PROXY-FIREWALL";
  public static final String SOURCE_RANGES_FIREWALL = "KUBE-SOURCE-RANGES-FIREWALL";
  public static final String POSTROUTING = "KUBE-POSTROUTING";
  public static final String MARK_MASQ = "KUBE-MARK-MASQ";
  public static final String NODE_PORT = "KUBE-NODE-PORT";
  public static final String FORWARD = "KUBE-FORWARD";
  public static final String LOAD_BALANCER_CHAIN = "KUBE-LOAD-BALANCER";
  public static final String IPVS_FILTER = "KUBE-IPVS-FILTER";
  public static final String IPVS_OUT_FILTER = "KUBE-IPVS-OUT-FILTER";

  /** Upstream's iptablesChains: nat chains then filter chains, in declaration order. */
  public static final List<String> NAT_CHAINS =
      List.of(SERVICES, POSTROUTING, NODE_PORT, LOAD_BALANCER_CHAIN, MARK_MASQ);

  public static final List<String> FILTER_CHAINS =
      List.of(
          FORWARD, NODE_PORT, PROXY_FIREWALL, SOURCE_RANGES_FIREWALL, IPVS_FILTER, IPVS_OUT_FILTER);

  /** Upstream's iptablesJumpChain, each ensured with Prepend in this order. */
  public static final List<TableRule> JUMPS =
      List.of(
          jump("nat", "OUTPUT", SERVICES, "kubernetes service portals"),
          jump("nat", "PREROUTING", SERVICES, "kubernetes service portals"),
          jump("nat", "POSTROUTING", POSTROUTING, "kubernetes postrouting rules"),
          jump("filter", "FORWARD", FORWARD, "kubernetes forwarding rules"),
          jump("filter", "INPUT", NODE_PORT, "kubernetes health check rules"),
          jump("filter", "INPUT", PROXY_FIREWALL, "kube-proxy firewall rules"),
          jump("filter", "FORWARD", PROXY_FIREWALL, "kube-proxy firewall rules"),
          jump("filter", "INPUT", IPVS_FILTER, "kubernetes ipvs access filter"),
          jump("filter", "OUTPUT", IPVS_OUT_FILTER, "kubernetes ipvs access filter"));

  /**
   * Upstream's ipsetWithIptablesChain: rules that match one set and exist only while it is
   * non-empty. The *-LOCAL sets come before their masquerading twins so that they RETURN first.
   */
  private record SetRule(
      String set, String table, String from, String to, String matchType, String protocol) {}

  private static final List<SetRule> SET_RULES =
      List.of(
          new SetRule(LOOP_BACK, "nat", POSTROUTING, "MASQUERADE", "dst,dst,src", ""),
          new SetRule(LOAD_BALANCER, "nat", SERVICES, LOAD_BALANCER_CHAIN, "dst,dst", ""),
          new SetRule(LOAD_BALANCER_LOCAL, "nat", LOAD_BALANCER_CHAIN, "RETURN", "dst,dst", ""),
          new SetRule(NODE_PORT_LOCAL_TCP, "nat", NODE_PORT, "RETURN", "dst", "tcp"),
          new SetRule(NODE_PORT_TCP, "nat", NODE_PORT, MARK_MASQ, "dst", "tcp"),
          new SetRule(NODE_PORT_LOCAL_UDP, "nat", NODE_PORT, "RETURN", "dst", "udp"),
          new SetRule(NODE_PORT_UDP, "nat", NODE_PORT, MARK_MASQ, "dst", "udp"),
          new SetRule(NODE_PORT_LOCAL_SCTP, "nat", NODE_PORT, "RETURN", "dst,dst", "sctp"),
          new SetRule(NODE_PORT_SCTP, "nat", NODE_PORT, MARK_MASQ, "dst,dst", "sctp"),
          new SetRule(
              LOAD_BALANCER_FW, "filter", PROXY_FIREWALL, SOURCE_RANGES_FIREWALL, "dst,dst", ""),
          new SetRule(
              LOAD_BALANCER_SOURCE_CIDR,
              "filter",
              SOURCE_RANGES_FIREWALL,
              "RETURN",
              "dst,dst,src",
              ""),
          new SetRule(
              LOAD_BALANCER_SOURCE_IP,
              "filter",
              SOURCE_RANGES_FIREWALL,
              "RETURN",
              "dst,dst,src",
              ""));

  private final ProxyConfig cfg;
  private final IpvsOptions opts;
  private final KernelCapabilities caps;
  private final String kernelVersion;

  /**
   * A renderer for one node.
   *
   * @param kernelVersion the running kernel's release ("6.1.0-18-amd64", `uname -r`): it decides
   *     whether conn_reuse_mode is set; "" when unknown (then it is left as-is, as on 5.9+)
   */
  public IpvsRenderer(
      ProxyConfig cfg, IpvsOptions opts, KernelCapabilities caps, String kernelVersion) {
    this.cfg = cfg;
    this.opts = opts;
    this.caps = caps;
    this.kernelVersion = kernelVersion == null ? "" : kernelVersion;
  }

  /**
   * The IPVS-mode state for {@code state}.
   *
   * @param localAddresses the node's addresses on every interface but kube-ipvs0 (upstream's
   *     GetAllLocalAddressesExcept): NodePort virtual servers listen on them, and an external or LB
   *     IP among them is not bound to kube-ipvs0; loopback and IPv6 ones are ignored
   */
  public IpvsState render(ProxyState state, Collection<String> localAddresses) {
    SortedMap<ServicePortName, ServicePortPlan> plans = new ServicePlanner(cfg).plan(state);
    Set<String> nodeAddressSet = new LinkedHashSet<>();
    for (String a : localAddresses) {
      if (Ip.isIpv4(a) && !a.startsWith("127.")) {
        nodeAddressSet.add(a);
      }
    }
    List<String> nodeIPs = nodePortIPs(localAddresses, nodeAddressSet);

    Map<String, Set<String>> entries = new LinkedHashMap<>();
    IpvsSets.ALL.forEach(s -> entries.put(s.name(), new LinkedHashSet<>()));
    Map<String, IpvsService> services = new LinkedHashMap<>();
    Set<String> bound = new LinkedHashSet<>();
    List<String[]> noNodeAccess = new ArrayList<>();

    for (ServicePortPlan p : plans.values()) {
      String proto = p.name().protocol().name().toLowerCase(Locale.ROOT);
      int port = p.service().port();
      // Hairpin: every local endpoint, ready or not, as upstream reads endpointsMap directly.
      for (Endpoint ep : state.endpointsOf(p.name())) {
        if (ep.isLocal(cfg.nodeName()) && !ep.ip().isEmpty() && ep.port() != 0) {
          entries.get(LOOP_BACK).add(ep.ip() + "," + proto + ":" + ep.port() + "," + ep.ip());
        }
      }

      String cip = p.clusterIP();
      entries.get(CLUSTER_IP).add(cip + "," + proto + ":" + port);
      put(services, server(p, cip, port), reals(p, p.service().internalPolicyLocal()));
      bound.add(cip);

      boolean extLocal = p.service().externalPolicyLocal();
      for (String eip : p.externalIPs()) {
        if (!Ip.isIpv4(eip)) {
          continue;
        }
        entries.get(extLocal ? EXTERNAL_IP_LOCAL : EXTERNAL_IP).add(eip + "," + proto + ":" + port);
        put(services, server(p, eip, port), reals(p, extLocal));
        // An address some other interface holds must not be bound again (it would take it over).
        if (!nodeAddressSet.contains(eip)) {
          bound.add(eip);
        }
      }

      for (String vip : p.loadBalancerIPs()) {
        if (!Ip.isIpv4(vip)) {
          continue;
        }
        String entry = vip + "," + proto + ":" + port;
        entries.get(LOAD_BALANCER).add(entry);
        if (extLocal) {
          entries.get(LOAD_BALANCER_LOCAL).add(entry);
        }
        if (!p.service().loadBalancerSourceRanges().isEmpty()) {
          entries.get(LOAD_BALANCER_FW).add(entry);
          boolean allowFromNode = false;
          for (String range : p.service().loadBalancerSourceRanges()) {
            Cidr c = Cidr.parse(range.strip());
            if (c.ipv6()) {
              continue;
            }
            entries.get(LOAD_BALANCER_SOURCE_CIDR).add(entry + "," + c.masked());
            allowFromNode |=
                cfg.nodeIP() != null && !cfg.nodeIP().isEmpty() && c.contains(cfg.nodeIP());
          }
          if (allowFromNode) {
            entries.get(LOAD_BALANCER_SOURCE_IP).add(entry + "," + vip);
          } else {
            // The node's own packets to the VIP carry the VIP as source (it is local): refuse
            // them here, as the source ranges cannot (upstream #119656).
            noNodeAccess.add(new String[] {vip, proto, Integer.toString(port)});
          }
        }
        put(services, server(p, vip, port), reals(p, extLocal));
        if (!nodeAddressSet.contains(vip)) {
          bound.add(vip);
        }
      }

      if (p.nodePort() != 0) {
        if (nodeIPs.isEmpty()) {
          // Upstream skips the rest of the port, health-check port included.
          continue;
        }
        List<String> npEntries = new ArrayList<>();
        String set;
        String localSet;
        switch (p.name().protocol()) {
          case TCP -> {
            set = NODE_PORT_TCP;
            localSet = NODE_PORT_LOCAL_TCP;
            npEntries.add(Integer.toString(p.nodePort()));
          }
          case UDP -> {
            set = NODE_PORT_UDP;
            localSet = NODE_PORT_LOCAL_UDP;
            npEntries.add(Integer.toString(p.nodePort()));
          }
          case SCTP -> {
            // hash:ip,port, as bitmap:port has no protocol: one entry per node IP.
            set = NODE_PORT_SCTP;
            localSet = NODE_PORT_LOCAL_SCTP;
            nodeIPs.forEach(ip -> npEntries.add(ip + ",sctp:" + p.nodePort()));
          }
          default -> throw new IllegalStateException("protocol " + p.name().protocol());
        }
        entries.get(set).addAll(npEntries);
        if (extLocal) {
          entries.get(localSet).addAll(npEntries);
        }
        for (String ip : nodeIPs) {
          put(services, server(p, ip, p.nodePort()), reals(p, extLocal));
        }
      }

      if (p.healthCheckNodePort() != 0) {
        entries.get(HEALTH_CHECK_NODE_PORT).add(Integer.toString(p.healthCheckNodePort()));
      }
    }

    List<String> dummy = new ArrayList<>(bound);
    dummy.sort(Comparator.comparingLong(Ip::ipv4ToLong));
    entries.get(IPVS_IPS).addAll(dummy);

    List<IpsetCodec.IpSet> sets = new ArrayList<>();
    for (IpvsSets.SetInfo s : IpvsSets.ALL) {
      List<IpsetCodec.Entry> es = new ArrayList<>();
      entries.get(s.name()).forEach(e -> es.add(new IpsetCodec.Entry(e, List.of())));
      sets.add(new IpsetCodec.IpSet(s.name(), s.type(), s.header(), es));
    }

    return new IpvsState(
        dummy,
        sets,
        new IpvsTable(List.copyOf(services.values())),
        iptables(entries, noNodeAccess),
        JUMPS,
        sysctls(opts, kernelVersion));
  }

  /** The NodePort addresses: upstream's nodeIPs for nodePortAddresses (all, or by CIDR). */
  private List<String> nodePortIPs(Collection<String> all, Set<String> nodeAddressSet) {
    if (cfg.nodePortsMatchAll()) {
      return List.copyOf(nodeAddressSet);
    }
    List<String> out = new ArrayList<>();
    for (String ip : cfg.nodePortIPs(all)) {
      if (Ip.isIpv4(ip) && !ip.startsWith("127.")) {
        out.add(ip);
      }
    }
    return out;
  }

  private VirtualServer server(ServicePortPlan p, String address, int port) {
    VirtualServer.Kind kind =
        switch (p.name().protocol()) {
          case TCP -> VirtualServer.Kind.TCP;
          case UDP -> VirtualServer.Kind.UDP;
          case SCTP -> VirtualServer.Kind.SCTP;
        };
    // FlagSourceHash (IP_VS_SVC_F_SCHED2) for mh: ipvsadm names it mh-port.
    List<String> flags = opts.scheduler().equals("mh") ? List.of("mh-port") : List.of();
    int persistence =
        p.sessionAffinity() == ServicePortPlan.SessionAffinity.CLIENT_IP
            ? p.affinityTimeoutSeconds()
            : 0;
    return new VirtualServer(
        kind, address, port, 0, opts.scheduler(), flags, persistence, "", false);
  }

  /**
   * Upstream's syncEndpoint: the local endpoints when the policy for this server is Local and there
   * are some; otherwise the cluster endpoints (for a Local policy with no local endpoint, PR
   * #97081: pods on this node still reach the service).
   */
  private static List<RealServer> reals(ServicePortPlan p, boolean onlyNodeLocal) {
    List<Endpoint> eps =
        onlyNodeLocal && !p.localEndpoints().isEmpty() ? p.localEndpoints() : p.clusterEndpoints();
    Map<String, RealServer> out = new LinkedHashMap<>();
    for (Endpoint ep : eps) {
      out.putIfAbsent(ep.address(), RealServer.masq(ep.ip(), ep.port(), 1));
    }
    return List.copyOf(out.values());
  }

  private static void put(
      Map<String, IpvsService> services, VirtualServer vs, List<RealServer> reals) {
    services.put(vs.key(), new IpvsService(vs, reals));
  }

  /** Upstream's masquerade mark, "%#08x" of 1 << bit: "0x004000" for bit 14. */
  public static String masqueradeMark(int bit) {
    return "0x" + String.format(Locale.ROOT, "%06x", 1L << bit);
  }

  /** Upstream's writeIptablesRules, line for line. */
  private Ruleset iptables(Map<String, Set<String>> entries, List<String[]> noNodeAccess) {
    List<Line> nat = new ArrayList<>();
    List<Line> filter = new ArrayList<>();
    NAT_CHAINS.forEach(c -> nat.add(new Line.ChainDecl(c, "-", "[0:0]")));
    FILTER_CHAINS.forEach(c -> filter.add(new Line.ChainDecl(c, "-", "[0:0]")));
    String mark = masqueradeMark(cfg.masqueradeBit());

    add(nat, Rule.in(SERVICES).param("-s", "127.0.0.0/8").jump("RETURN"));

    for (SetRule s : SET_RULES) {
      if (entries.get(s.set()).isEmpty()) {
        continue;
      }
      RuleBuilder b = Rule.in(s.from());
      if (!s.protocol().isEmpty()) {
        b.param("-p", s.protocol());
      }
      b.comment(IpvsSets.comment(s.set()))
          .module("set")
          .option("--match-set", s.set(), s.matchType())
          .jump(s.to());
      add(s.table().equals("filter") ? filter : nat, b);
    }

    if (!entries.get(CLUSTER_IP).isEmpty()) {
      RuleBuilder b = matchSet(SERVICES, CLUSTER_IP);
      if (cfg.masqueradeAll()) {
        b.option("--match-set", CLUSTER_IP, "dst,dst");
      } else if (cfg.localDetector().isImplemented()) {
        // Off-cluster clients routed to a node for the service range: replies must come back here.
        b.option("--match-set", CLUSTER_IP, "dst,dst").args(ifNotLocal());
      } else {
        // No detector: masquerade node-originated packets whose source is a VIP on kube-ipvs0
        // (the kernel picks the VIP as source to reach a VIP; upstream PR #63319).
        b.option("--match-set", CLUSTER_IP, "src,dst");
      }
      add(nat, b.jump(MARK_MASQ));
    }
    if (!entries.get(EXTERNAL_IP).isEmpty()) {
      add(
          nat,
          matchSet(SERVICES, EXTERNAL_IP)
              .option("--match-set", EXTERNAL_IP, "dst,dst")
              .jump(MARK_MASQ));
      externalIpRules(nat, EXTERNAL_IP);
    }
    if (!entries.get(EXTERNAL_IP_LOCAL).isEmpty()) {
      externalIpRules(nat, EXTERNAL_IP_LOCAL);
    }
    add(nat, Rule.in(SERVICES).module("addrtype").option("--dst-type", "LOCAL").jump(NODE_PORT));
    add(nat, Rule.in(LOAD_BALANCER_CHAIN).jump(MARK_MASQ));
    add(filter, Rule.in(SOURCE_RANGES_FIREWALL).jump("DROP"));
    for (String[] e : noNodeAccess) {
      add(
          filter,
          Rule.in(IPVS_OUT_FILTER)
              .param("-s", e[0])
              .module("ipvs")
              .option("--vaddr", e[0])
              .option("--vproto", e[1])
              .option("--vport", e[2])
              .jump("DROP"));
    }
    // acceptIPVSTraffic: keep other nat rules (KUBE-HOSTPORTS --dst-type LOCAL) off the VIPs.
    for (String set : List.of(CLUSTER_IP, LOAD_BALANCER)) {
      if (!entries.get(set).isEmpty()) {
        add(
            nat,
            Rule.in(SERVICES).module("set").option("--match-set", set, "dst,dst").jump("ACCEPT"));
      }
    }
    add(
        filter,
        Rule.in(FORWARD)
            .comment("kubernetes forwarding rules")
            .module("mark")
            .option("--mark", mark + "/" + mark)
            .jump("ACCEPT"));
    add(
        filter,
        Rule.in(FORWARD)
            .comment("kubernetes forwarding conntrack rule")
            .module("conntrack")
            .option("--ctstate", "RELATED,ESTABLISHED")
            .jump("ACCEPT"));
    add(
        filter,
        Rule.in(NODE_PORT)
            .comment(IpvsSets.comment(HEALTH_CHECK_NODE_PORT))
            .module("set")
            .option("--match-set", HEALTH_CHECK_NODE_PORT, "dst")
            .jump("ACCEPT"));
    for (String[] s :
        List.of(
            new String[] {LOAD_BALANCER, "dst,dst"},
            new String[] {CLUSTER_IP, "dst,dst"},
            new String[] {EXTERNAL_IP, "dst,dst"},
            new String[] {EXTERNAL_IP_LOCAL, "dst,dst"},
            new String[] {HEALTH_CHECK_NODE_PORT, "dst"})) {
      add(
          filter,
          Rule.in(IPVS_FILTER).module("set").option("--match-set", s[0], s[1]).jump("RETURN"));
    }
    add(
        filter,
        Rule.in(IPVS_FILTER)
            .module("conntrack")
            .option("--ctstate", "NEW")
            .module("set")
            .option("--match-set", IPVS_IPS, "dst")
            .jump("REJECT"));

    MasqueradeRules.rules(mark, caps.randomFully()).forEach(b -> add(nat, b));
    return new Ruleset(List.of(new Table("nat", nat), new Table("filter", filter)));
  }

  /** "-A CHAIN -m comment --comment C -m set" (the --match-set follows). */
  private static RuleBuilder matchSet(String chain, String set) {
    return Rule.in(chain).comment(IpvsSets.comment(set)).module("set");
  }

  /** Upstream's externalIPRules: accept off-node traffic and traffic to a local address. */
  private static void externalIpRules(List<Line> nat, String set) {
    add(
        nat,
        matchSet(SERVICES, set)
            .option("--match-set", set, "dst,dst")
            .module("physdev")
            .option(true, "--physdev-is-in")
            .module("addrtype")
            .option(true, "--src-type", "LOCAL")
            .jump("ACCEPT"));
    add(
        nat,
        matchSet(SERVICES, set)
            .option("--match-set", set, "dst,dst")
            .module("addrtype")
            .option("--dst-type", "LOCAL")
            .jump("ACCEPT"));
  }

  /** The local-traffic detector's IfNotLocal: "! -s CIDR", "! -i BRIDGE", "! -i PREFIX+". */
  private List<Arg> ifNotLocal() {
    LocalTrafficDetector d = cfg.localDetector();
    String flag = d.bySource() ? "-s" : "-i";
    String value =
        d.mode() == LocalTrafficDetector.Mode.INTERFACE_NAME_PREFIX ? d.value() + "+" : d.value();
    return List.of(new Arg.Param(true, flag, Value.of(value)));
  }

  /**
   * The sysctls upstream's NewProxier ensures, in its order. conn_reuse_mode=0 only on kernels 4.1
   * to 5.8: older ones lack it, and 5.9 fixed what 0 worked around (#93297).
   */
  public static List<Sysctl> sysctls(IpvsOptions opts, String kernelVersion) {
    List<Sysctl> out = new ArrayList<>();
    out.add(new Sysctl("net/ipv4/vs/conntrack", "1"));
    int[] v = kernelVersion(kernelVersion);
    if (v != null && atLeast(v, 4, 1) && !atLeast(v, 5, 9)) {
      out.add(new Sysctl("net/ipv4/vs/conn_reuse_mode", "0"));
    }
    out.add(new Sysctl("net/ipv4/vs/expire_nodest_conn", "1"));
    out.add(new Sysctl("net/ipv4/vs/expire_quiescent_template", "1"));
    out.add(new Sysctl("net/ipv4/ip_forward", "1"));
    if (opts.strictArp()) {
      out.add(new Sysctl("net/ipv4/conf/all/arp_ignore", "1"));
      out.add(new Sysctl("net/ipv4/conf/all/arp_announce", "2"));
    }
    return List.copyOf(out);
  }

  private static final Pattern VERSION = Pattern.compile("^(\\d+)\\.(\\d+)");

  /** [major, minor] of a kernel release, null when it does not start with one. */
  static int[] kernelVersion(String release) {
    Matcher m = VERSION.matcher(release == null ? "" : release.strip());
    if (!m.find()) {
      return null;
    }
    return new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
  }

  private static boolean atLeast(int[] v, int major, int minor) {
    return v[0] > major || (v[0] == major && v[1] >= minor);
  }

  private static TableRule jump(String table, String from, String to, String comment) {
    return new TableRule(table, Rule.in(from).comment(comment).jump(to).build());
  }

  private static void add(List<Line> lines, RuleBuilder b) {
    lines.add(new Line.RuleLine(b.build(), null));
  }

  /**
   * The service names with a Local policy whose port has endpoints but none on this node, as
   * upstream's sync_proxy_rules_no_local_endpoints_total counts them ("internal", "external"): each
   * Service once.
   */
  public static Map<String, Set<String>> noLocalEndpoints(Collection<ServicePortPlan> plans) {
    Set<String> internal = new TreeSet<>();
    Set<String> external = new TreeSet<>();
    for (ServicePortPlan p : plans) {
      if (!p.hasEndpoints() || !p.localEndpoints().isEmpty()) {
        continue;
      }
      if (p.service().internalPolicyLocal()) {
        internal.add(p.name().namespacedName());
      }
      if (p.service().externalPolicyLocal()) {
        external.add(p.name().namespacedName());
      }
    }
    return Map.of("internal", internal, "external", external);
  }
}
