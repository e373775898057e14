package dev.svcproxy.render.iptables;

import static dev.svcproxy.render.iptables.ChainNames.EXTERNAL_SERVICES;
import static dev.svcproxy.render.iptables.ChainNames.FIREWALL;
import static dev.svcproxy.render.iptables.ChainNames.FORWARD;
import static dev.svcproxy.render.iptables.ChainNames.MARK_MASQ;
import static dev.svcproxy.render.iptables.ChainNames.NODEPORTS;
import static dev.svcproxy.render.iptables.ChainNames.POSTROUTING;
import static dev.svcproxy.render.iptables.ChainNames.PROXY_FIREWALL;
import static dev.svcproxy.render.iptables.ChainNames.SERVICES;

import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.RuleBuilder;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.netfilter.Value;
import dev.svcproxy.plan.ServicePlanner;
import dev.svcproxy.plan.ServicePortPlan;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Renders a ProxyState into the iptables-restore input upstream kube-proxy's iptables mode writes
 * (filter and nat tables, chain for chain and rule for rule). A pure function.
 */
public final class IptablesRenderer {
  private final ProxyConfig cfg;
  private final IptablesOptions options;
  private final KernelCapabilities caps;
  private final String mark;
  private final boolean localhostNodePorts;
  private final ServicePlanner planner;

  public IptablesRenderer(ProxyConfig cfg, IptablesOptions opts, KernelCapabilities caps) {
    this.cfg = cfg;
    this.options = opts;
    this.caps = caps;
    this.mark = cfg.masqueradeMark();
    this.localhostNodePorts = opts.localhostNodePorts(cfg);
    this.planner = new ServicePlanner(cfg);
  }

  /** The planner of this renderer's configuration, for callers that render port by port. */
  public ServicePlanner planner() {
    return planner;
  }

  /** Renders the whole ruleset, as a full sync writes it. */
  public RenderResult render(ProxyState state) {
    return render(state, RenderOptions.full());
  }

  /**
   * Renders what a sync writes: every port's rules, its own chains only where {@code opts} says.
   */
  public RenderResult render(ProxyState state, RenderOptions opts) {
    boolean large = largeClusterMode(state);
    List<ServicePortRules> ports = new ArrayList<>();
    for (ServicePortPlan plan : planner.plan(state).values()) {
      ports.add(renderServicePort(plan, large));
    }
    return assemble(ports, large, opts);
  }

  /**
   * The restore input made of per-port rules already rendered, given in service-port order: the
   * fixed chains around them, each port's rules in the shared chains, and the own chains of the
   * ports {@code opts} writes. A partial sync can keep the rules of unchanged ports from earlier
   * syncs and render only the changed ones, as long as {@code large} is unchanged.
   */
  public RenderResult assemble(
      Collection<ServicePortRules> ports, boolean large, RenderOptions opts) {
    List<Line> filterChains = new ArrayList<>();
    List<Line> filterRules = new ArrayList<>();
    List<Line> natChains = new ArrayList<>();
    List<Line> natRules = new ArrayList<>();

    for (String c : List.of(SERVICES, EXTERNAL_SERVICES, FORWARD, NODEPORTS, PROXY_FIREWALL)) {
      filterChains.add(decl(c));
    }
    for (String c : List.of(SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ)) {
      natChains.add(decl(c));
    }
    MasqueradeRules.rules(mark, caps.randomFully()).forEach(b -> add(natRules, b));

    if (localhostNodePorts) {
      filterChains.add(decl(FIREWALL));
      add(
          filterRules,
          Rule.in(FIREWALL)
              .comment("block incoming localnet connections")
              .param("-d", "127.0.0.0/8")
              .param(true, "-s", "127.0.0.0/8")
              .module("conntrack")
              .option(true, "--ctstate", "RELATED,ESTABLISHED,DNAT")
              .jump("DROP"));
    }

    int chains = 0;
    for (ServicePortRules port : ports) {
      chains += port.chains().size();
    }
    // Sized once: at 10k services it holds 110k names, and rehashing them dominated partial syncs.
    Set<String> active = HashSet.newHashSet(chains);
    int skippedRules = 0;
    for (ServicePortRules port : ports) {
      boolean write = opts.fullSync() || opts.changed().contains(port.name().namespacedName());
      port.sharedFilterRules().forEach(r -> filterRules.add(new Line.RuleLine(r)));
      port.sharedNatRules().forEach(r -> natRules.add(new Line.RuleLine(r)));
      active.addAll(port.chains());
      if (write) {
        port.chains().forEach(c -> natChains.add(decl(c)));
        port.chainRules().forEach(r -> natRules.add(new Line.RuleLine(r)));
      } else {
        skippedRules += port.chainRules().size();
      }
    }

    int deleted = 0;
    if (opts.existingNatChains() != null) {
      for (String chain : new TreeSet<>(opts.existingNatChains())) {
        if (!active.contains(chain) && ChainNames.isServiceChain(chain)) {
          natChains.add(decl(chain));
          natRules.add(new Line.DeleteChain(chain));
          deleted++;
        }
      }
    }

    String lastComment =
        "kubernetes service nodeports; NOTE: this must be the last rule in this chain";
    if (cfg.nodePortsMatchAll()) {
      RuleBuilder b = Rule.in(SERVICES).comment(lastComment).module("addrtype");
      b.option("--dst-type", "LOCAL");
      if (!localhostNodePorts) {
        b.param(true, "-d", "127.0.0.0/8");
      }
      add(natRules, b.jump(NODEPORTS));
    } else {
      for (String ip : nodePortIPs()) {
        if (ip.startsWith("127.") && !localhostNodePorts) {
          continue;
        }
        add(natRules, Rule.in(SERVICES).comment(lastComment).param("-d", ip).jump(NODEPORTS));
      }
    }

    if (!caps.conntrackTcpBeLiberal()) {
      RuleBuilder b = Rule.in(FORWARD).module("conntrack").option("--ctstate", "INVALID");
      if (caps.nfacctInvalidDropped()) {
        b.module("nfacct").option("--nfacct-name", KernelCapabilities.INVALID_DROPPED_COUNTER);
      }
      add(filterRules, b.jump("DROP"));
    }
    add(
        filterRules,
        Rule.in(FORWARD)
            .comment("kubernetes forwarding rules")
            .module("mark")
            .option("--mark", mark + "/" + mark)
            .jump("ACCEPT"));
    add(
        filterRules,
        Rule.in(FORWARD)
            .comment("kubernetes forwarding conntrack rule")
            .module("conntrack")
            .option("--ctstate", "RELATED,ESTABLISHED")
            .jump("ACCEPT"));

    List<Line> filter = new ArrayList<>(filterChains);
    filter.addAll(filterRules);
    List<Line> nat = new ArrayList<>(natChains);
    nat.addAll(natRules);
    Ruleset rs = new Ruleset(List.of(new Table("filter", filter), new Table("nat", nat)));
    int natCount = (int) natRules.stream().filter(l -> l instanceof Line.RuleLine).count();
    return new RenderResult(
        rs,
        active,
        (int) filterRules.stream().filter(l -> l instanceof Line.RuleLine).count(),
        natCount + skippedRules,
        large,
        deleted);
  }

  private List<String> nodePortIPs() {
    List<String> candidates = new ArrayList<>(cfg.nodeIPs());
    if (!candidates.contains("127.0.0.1")) {
      candidates.add("127.0.0.1");
    }
    return cfg.nodePortIPs(candidates);
  }

  /**
   * Whether per-endpoint rules go without comments: upstream's large-cluster mode, decided by the
   * endpoints of the whole state, so a change of mode changes every port's rules.
   */
  public boolean largeClusterMode(ProxyState state) {
    return state.totalEndpoints() > options.largeClusterEndpoints();
  }

  /**
   * One service port's rules, as the full render writes them. Pure and cheap: a partial sync can
   * re-render only the ports that changed and reuse the others ({@code large} from {@link
   * #largeClusterMode} of the whole state).
   */
  public ServicePortRules renderServicePort(ServicePortPlan plan, boolean large) {
    List<Rule> filterRules = new ArrayList<>();
    List<Rule> topNatRules = new ArrayList<>();
    List<String> natChains = new ArrayList<>();
    List<Rule> natRules = new ArrayList<>();
    ServicePortInfo svc = plan.service();
    ServicePortName spn = svc.name();
    String name = spn.toString();
    String proto = svc.protocol().lower();
    String port = Integer.toString(svc.port());

    boolean hasEndpoints = plan.hasEndpoints();
    String clusterChain = ChainNames.svc(name, proto);
    String localChain = ChainNames.svl(name, proto);
    String internalChain =
        plan.internalPolicy() == ServicePortPlan.Policy.LOCAL ? localChain : clusterChain;
    boolean hasInternal = plan.hasInternalEndpoints();
    String externalPolicyChain =
        plan.externalPolicy() == ServicePortPlan.Policy.LOCAL ? localChain : clusterChain;
    boolean hasExternal = plan.hasExternalEndpoints();
    String extChain = ChainNames.ext(name, proto);
    String fwChain = ChainNames.fw(name, proto);
    // Unlike nftables, upstream's iptables proxier has no firewall for a port without endpoints:
    // its traffic is rejected in filter, and KUBE-FW would have no KUBE-EXT to jump to.
    boolean usesFw = hasEndpoints && plan.usesFirewall();
    String lbChain = usesFw ? fwChain : extChain;

    String internalFilterTarget = target(plan.internalUnreachable());
    String internalFilterComment = name + " " + plan.internalUnreachable().reason();
    String externalFilterTarget = target(plan.externalUnreachable());
    String externalFilterComment = name + " " + plan.externalUnreachable().reason();

    if (hasInternal) {
      add(
          topNatRules,
          toVip(SERVICES, name + " cluster IP", proto, svc.clusterIP(), port).jump(internalChain));
    } else {
      add(
          filterRules,
          toVip(SERVICES, internalFilterComment, proto, svc.clusterIP(), port)
              .jump(internalFilterTarget));
    }

    for (String ip : svc.externalIPs()) {
      if (hasEndpoints) {
        add(topNatRules, toVip(SERVICES, name + " external IP", proto, ip, port).jump(extChain));
      }
      if (!hasExternal) {
        add(
            filterRules,
            toVip(EXTERNAL_SERVICES, externalFilterComment, proto, ip, port)
                .jump(externalFilterTarget));
      }
    }

    for (String ip : svc.loadBalancerVIPs()) {
      if (hasEndpoints) {
        add(topNatRules, toVip(SERVICES, name + " loadbalancer IP", proto, ip, port).jump(lbChain));
      }
      if (usesFw) {
        add(
            filterRules,
            toVip(PROXY_FIREWALL, name + " traffic not accepted by " + fwChain, proto, ip, port)
                .jump("DROP"));
      }
    }
    if (!hasExternal) {
      for (String ip : svc.loadBalancerVIPs()) {
        add(
            filterRules,
            toVip(EXTERNAL_SERVICES, externalFilterComment, proto, ip, port)
                .jump(externalFilterTarget));
      }
    }

    if (svc.nodePort() != 0) {
      String np = Integer.toString(svc.nodePort());
      if (hasEndpoints) {
        if (localhostNodePorts && caps.nfacctLocalhostNodePorts()) {
          add(
              topNatRules,
              Rule.in(NODEPORTS)
                  .comment(name)
                  .protocol(proto)
                  .param("-d", "127.0.0.0/8")
                  .option("--dport", np)
                  .module("nfacct")
                  .option("--nfacct-name", KernelCapabilities.LOCALHOST_NPS_COUNTER)
                  .jump(extChain));
        }
        add(
            topNatRules,
            Rule.in(NODEPORTS).comment(name).protocol(proto).option("--dport", np).jump(extChain));
      }
      if (!hasExternal) {
        add(
            filterRules,
            Rule.in(EXTERNAL_SERVICES)
                .comment(externalFilterComment)
                .module("addrtype")
                .option("--dst-type", "LOCAL")
                .protocol(proto)
                .option("--dport", np)
                .jump(externalFilterTarget));
      }
    }

    if (svc.healthCheckNodePort() != 0) {
      add(
          filterRules,
          Rule.in(NODEPORTS)
              .comment(name + " health check node port")
              .protocol("tcp")
              .option("--dport", Integer.toString(svc.healthCheckNodePort()))
              .jump("ACCEPT"));
    }

    if (hasInternal) {
      RuleBuilder b = toVip(internalChain, name + " cluster IP", proto, svc.clusterIP(), port);
      switch (plan.clusterIpMasquerade()) {
        case ALL -> add(natRules, b.jump(MARK_MASQ));
        case NON_POD_SOURCES -> add(natRules, b.args(ifLocal(false)).jump(MARK_MASQ));
        case NONE -> {}
      }
    }

    if (plan.usesExternalChain()) {
      natChains.add(extChain);
      if (plan.externalMasquerade() == ServicePortPlan.ExternalMasquerade.ALL) {
        add(
            natRules,
            Rule.in(extChain)
                .comment("masquerade traffic for " + name + " external destinations")
                .jump(MARK_MASQ));
      } else {
        if (plan.shortCircuitPods()) {
          add(
              natRules,
              Rule.in(extChain)
                  .comment("pod traffic for " + name + " external destinations")
                  .args(ifLocal(true))
                  .jump(clusterChain));
        }
        add(
            natRules,
            Rule.in(extChain)
                .comment("masquerade LOCAL traffic for " + name + " external destinations")
                .module("addrtype")
                .option("--src-type", "LOCAL")
                .jump(MARK_MASQ));
        add(
            natRules,
            Rule.in(extChain)
                .comment("route LOCAL traffic for " + name + " external destinations")
                .module("addrtype")
                .option("--src-type", "LOCAL")
                .jump(clusterChain));
      }
      if (hasExternal) {
        add(natRules, Rule.in(extChain).jump(externalPolicyChain));
      }
    }

    if (usesFw) {
      natChains.add(fwChain);
      for (String cidr : plan.firewall().sourceRanges()) {
        add(
            natRules,
            Rule.in(fwChain).comment(name + " loadbalancer IP").param("-s", cidr).jump(extChain));
      }
      if (plan.firewall().allowLoadBalancerIpSources()) {
        for (String ip : svc.loadBalancerVIPs()) {
          add(
              natRules,
              Rule.in(fwChain).comment(name + " loadbalancer IP").param("-s", ip).jump(extChain));
        }
      }
      add(
          natRules,
          Rule.in(fwChain)
              .comment("other traffic to " + name + " will be dropped by KUBE-PROXY-FIREWALL"));
    }

    if (plan.usesClusterChain()) {
      natChains.add(clusterChain);
      writeServiceToEndpoints(natRules, plan, clusterChain, plan.clusterEndpoints(), large);
    }
    if (plan.usesLocalChain()) {
      natChains.add(localChain);
      writeServiceToEndpoints(natRules, plan, localChain, plan.localEndpoints(), large);
    }

    for (Endpoint ep : plan.reachableEndpoints()) {
      String sep = ChainNames.sep(name, proto, ep.address());
      natChains.add(sep);
      RuleBuilder hairpin = Rule.in(sep);
      if (!large) {
        hairpin.comment(name);
      }
      add(natRules, hairpin.param("-s", ep.ip()).jump(MARK_MASQ));
      RuleBuilder dnat = Rule.in(sep);
      if (!large) {
        dnat.comment(name);
      }
      if (plan.sessionAffinity() == ServicePortPlan.SessionAffinity.CLIENT_IP) {
        dnat.module("recent").option("--name", sep).option("--set");
      }
      add(
          natRules,
          dnat.protocol(proto).jump("DNAT").targetOption("--to-destination", ep.address()));
    }
    return new ServicePortRules(spn, filterRules, topNatRules, natChains, natRules);
  }

  /** The filter verdict for traffic with no endpoint ("" when it has one). */
  private static String target(ServicePortPlan.Unreachable u) {
    return switch (u) {
      case NONE -> "";
      case REJECT_NO_ENDPOINTS -> "REJECT";
      case DROP_NO_LOCAL_ENDPOINTS -> "DROP";
    };
  }

  private static void writeServiceToEndpoints(
      List<Rule> natRules, ServicePortPlan plan, String chain, List<Endpoint> eps, boolean large) {
    ServicePortInfo svc = plan.service();
    String name = svc.name().toString();
    String proto = svc.protocol().lower();
    if (plan.sessionAffinity() == ServicePortPlan.SessionAffinity.CLIENT_IP) {
      for (Endpoint ep : eps) {
        String sep = ChainNames.sep(name, proto, ep.address());
        RuleBuilder b = Rule.in(chain);
        if (!large) {
          b.comment(name + " -> " + ep.address());
        }
        add(
            natRules,
            b.module("recent")
                .option("--name", sep)
                .option("--rcheck")
                .option("--seconds", Integer.toString(plan.affinityTimeoutSeconds()))
                .option("--reap")
                .jump(sep));
      }
    }
    int n = eps.size();
    for (int i = 0; i < n; i++) {
      Endpoint ep = eps.get(i);
      RuleBuilder b = Rule.in(chain);
      if (!large) {
        b.comment(name + " -> " + ep.address());
      }
      if (i < n - 1) {
        b.module("statistic")
            .option("--mode", "random")
            .option("--probability", probability(n - i));
      }
      add(natRules, b.jump(ChainNames.sep(name, proto, ep.address())));
    }
  }

  /** Upstream's "%0.10f" of 1/n. */
  static String probability(int n) {
    return String.format(Locale.ROOT, "%.10f", 1.0 / n);
  }

  /** The detector's match: IfLocal ({@code local}) or IfNotLocal. */
  private List<Arg> ifLocal(boolean local) {
    LocalTrafficDetector d = cfg.localDetector();
    String flag = d.bySource() ? "-s" : "-i";
    String value =
        d.mode() == LocalTrafficDetector.Mode.INTERFACE_NAME_PREFIX ? d.value() + "+" : d.value();
    return List.of(new Arg.Param(!local, flag, Value.of(value)));
  }

  /** "-m comment --comment C -m proto -p proto -d IP --dport PORT", the match of every VIP rule. */
  private static RuleBuilder toVip(
      String chain, String comment, String proto, String ip, String port) {
    return Rule.in(chain).comment(comment).protocol(proto).param("-d", ip).option("--dport", port);
  }

  private static Line decl(String chain) {
    return new Line.ChainDecl(chain, "-", "[0:0]");
  }

  private static void add(List<Line> lines, RuleBuilder b) {
    lines.add(new Line.RuleLine(b.build()));
  }

  private static void add(Collection<Rule> rules, RuleBuilder b) {
    rules.add(b.build());
  }
}
