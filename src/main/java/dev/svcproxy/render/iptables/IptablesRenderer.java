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
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.EndpointCategorizer;
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
import java.util.ArrayList;
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

  public IptablesRenderer(ProxyConfig cfg, IptablesOptions opts, KernelCapabilities caps) {
    this.cfg = cfg;
    this.options = opts;
    this.caps = caps;
    this.mark = cfg.masqueradeMark();
    this.localhostNodePorts = opts.localhostNodePorts(cfg);
  }

  /** Renders the whole ruleset, as a full sync writes it. */
  public RenderResult render(ProxyState state) {
    return render(state, RenderOptions.full());
  }

  public RenderResult render(ProxyState state, RenderOptions opts) {
    List<Line> filterChains = new ArrayList<>();
    List<Line> filterRules = new ArrayList<>();
    List<Line> natChains = new ArrayList<>();
    List<Line> natRules = new ArrayList<>();
    List<Line> skipped = new ArrayList<>();

    for (String c : List.of(SERVICES, EXTERNAL_SERVICES, FORWARD, NODEPORTS, PROXY_FIREWALL)) {
      filterChains.add(decl(c));
    }
    for (String c : List.of(SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ)) {
      natChains.add(decl(c));
    }
    add(
        natRules,
        Rule.in(POSTROUTING)
            .module("mark")
            .option(true, "--mark", mark + "/" + mark)
            .jump("RETURN"));
    add(natRules, Rule.in(POSTROUTING).jump("MARK").targetOption("--xor-mark", mark));
    RuleBuilder masq =
        Rule.in(POSTROUTING)
            .comment("kubernetes service traffic requiring SNAT")
            .jump("MASQUERADE");
    if (caps.randomFully()) {
      masq.targetOption("--random-fully");
    }
    add(natRules, masq);
    add(natRules, Rule.in(MARK_MASQ).jump("MARK").targetOption("--or-mark", mark));

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

    Set<String> active = new HashSet<>();
    boolean large = state.totalEndpoints() > options.largeClusterEndpoints();
    for (ServicePortInfo svc : state.services().values()) {
      boolean write = opts.fullSync() || opts.changed().contains(svc.name().namespacedName());
      renderService(
          state,
          svc,
          large,
          filterRules,
          natRules,
          write ? natChains : skipped,
          write ? natRules : skipped,
          active);
    }
    int skippedRules = (int) skipped.stream().filter(l -> l instanceof Line.RuleLine).count();

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
    List<String> out = new ArrayList<>();
    List<String> candidates = new ArrayList<>(cfg.nodeIPs());
    if (!candidates.contains("127.0.0.1")) {
      candidates.add("127.0.0.1");
    }
    for (String ip : candidates) {
      for (Cidr c : cfg.nodePortAddresses()) {
        if (c.contains(ip) && !out.contains(ip)) {
          out.add(ip);
        }
      }
    }
    return out;
  }

  private void renderService(
      ProxyState state,
      ServicePortInfo svc,
      boolean large,
      List<Line> filterRules,
      List<Line> topNatRules,
      List<Line> natChains,
      List<Line> natRules,
      Set<String> active) {
    ServicePortName spn = svc.name();
    String name = spn.toString();
    String proto = svc.protocol().lower();
    String port = Integer.toString(svc.port());

    EndpointCategorizer.Categories cat =
        EndpointCategorizer.categorize(state.endpointsOf(spn), svc, cfg.nodeName(), cfg.zone());
    boolean hasEndpoints = cat.hasAny();

    String clusterChain = ChainNames.svc(name, proto);
    boolean usesClusterChain = !cat.cluster().isEmpty() && svc.usesClusterEndpoints();
    String localChain = ChainNames.svl(name, proto);
    boolean usesLocalChain = !cat.local().isEmpty() && svc.usesLocalEndpoints();

    String internalChain = clusterChain;
    boolean hasInternal = hasEndpoints;
    if (svc.internalPolicyLocal()) {
      internalChain = localChain;
      hasInternal = hasInternal && !cat.local().isEmpty();
    }
    String externalPolicyChain = clusterChain;
    boolean hasExternal = hasEndpoints;
    if (svc.externalPolicyLocal()) {
      externalPolicyChain = localChain;
      hasExternal = hasExternal && !cat.local().isEmpty();
    }
    String extChain = ChainNames.ext(name, proto);
    boolean usesExtChain = hasEndpoints && svc.externallyAccessible();
    String fwChain = ChainNames.fw(name, proto);
    boolean usesFw =
        hasEndpoints
            && !svc.loadBalancerVIPs().isEmpty()
            && !svc.loadBalancerSourceRanges().isEmpty();
    String lbChain = usesFw ? fwChain : extChain;

    String internalFilterTarget = "";
    String internalFilterComment = "";
    String externalFilterTarget = "";
    String externalFilterComment = "";
    if (!hasEndpoints) {
      internalFilterTarget = "REJECT";
      internalFilterComment = name + " has no endpoints";
      externalFilterTarget = "REJECT";
      externalFilterComment = internalFilterComment;
    } else {
      if (!hasInternal) {
        internalFilterTarget = "DROP";
        internalFilterComment = name + " has no local endpoints";
      }
      if (!hasExternal) {
        externalFilterTarget = "DROP";
        externalFilterComment = name + " has no local endpoints";
      }
    }

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
      if (cfg.masqueradeAll()) {
        add(natRules, b.jump(MARK_MASQ));
      } else if (cfg.localDetector().isImplemented()) {
        add(natRules, b.args(ifLocal(false)).jump(MARK_MASQ));
      }
    }

    if (usesExtChain) {
      natChains.add(decl(extChain));
      active.add(extChain);
      if (!svc.externalPolicyLocal()) {
        add(
            natRules,
            Rule.in(extChain)
                .comment("masquerade traffic for " + name + " external destinations")
                .jump(MARK_MASQ));
      } else {
        if (cfg.localDetector().isImplemented()) {
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
      natChains.add(decl(fwChain));
      active.add(fwChain);
      boolean allowFromNode = false;
      for (String cidr : svc.loadBalancerSourceRanges()) {
        add(
            natRules,
            Rule.in(fwChain).comment(name + " loadbalancer IP").param("-s", cidr).jump(extChain));
        if (cfg.nodeIP() != null && Cidr.parse(cidr).contains(cfg.nodeIP())) {
          allowFromNode = true;
        }
      }
      if (allowFromNode) {
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

    if (usesClusterChain) {
      natChains.add(decl(clusterChain));
      active.add(clusterChain);
      writeServiceToEndpoints(natRules, svc, clusterChain, cat.cluster(), large);
    }
    if (usesLocalChain) {
      natChains.add(decl(localChain));
      active.add(localChain);
      writeServiceToEndpoints(natRules, svc, localChain, cat.local(), large);
    }

    for (Endpoint ep : cat.allReachable()) {
      String sep = ChainNames.sep(name, proto, ep.address());
      natChains.add(decl(sep));
      active.add(sep);
      RuleBuilder hairpin = Rule.in(sep);
      if (!large) {
        hairpin.comment(name);
      }
      add(natRules, hairpin.param("-s", ep.ip()).jump(MARK_MASQ));
      RuleBuilder dnat = Rule.in(sep);
      if (!large) {
        dnat.comment(name);
      }
      if (svc.sessionAffinityClientIP()) {
        dnat.module("recent").option("--name", sep).option("--set");
      }
      add(
          natRules,
          dnat.protocol(proto).jump("DNAT").targetOption("--to-destination", ep.address()));
    }
  }

  private void writeServiceToEndpoints(
      List<Line> natRules, ServicePortInfo svc, String chain, List<Endpoint> eps, boolean large) {
    String name = svc.name().toString();
    String proto = svc.protocol().lower();
    if (svc.sessionAffinityClientIP()) {
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
                .option("--seconds", Integer.toString(svc.stickyMaxAgeSeconds()))
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
}
