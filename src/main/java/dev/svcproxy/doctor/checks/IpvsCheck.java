package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.Check;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.ProxyFlags;
import dev.svcproxy.doctor.Severity;
import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.nftables.ruleset.NftPrinter;
import dev.svcproxy.nftables.ruleset.Ruleset;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.Verdict;
import dev.svcproxy.trace.engine.Tracer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * kube-proxy's IPVS mode (and the cluster-CIDR masquerade rule of both iptables-based modes): the
 * addresses it binds on kube-ipvs0 and what binding them does to the node's own traffic.
 */
public final class IpvsCheck implements Check {
  static final Catalogue.Entry MISSING_CLUSTER_CIDR =
      new Catalogue.Entry(
          "missing-cluster-cidr",
          Severity.ERROR,
          "kube-proxy runs without --cluster-cidr (or with the service CIDR): no masquerade for"
              + " off-cluster sources",
          List.of(
              "seed 000",
              "https://github.com/kubernetes/kubernetes/issues/63241",
              "https://github.com/kubernetes/kubernetes/pull/63319"));

  static final Catalogue.Entry VIP_AS_SOURCE =
      new Catalogue.Entry(
          "vip-as-source",
          Severity.ERROR,
          "the node's own connections to a Service leave with the Service VIP as source",
          List.of("seed 000", "https://github.com/kubernetes/kubernetes/issues/63241"));

  static final Catalogue.Entry LB_IP_BOUND_LOCALLY =
      new Catalogue.Entry(
          "lb-ip-bound-locally",
          Severity.WARNING,
          "a LoadBalancer or external IP bound on kube-ipvs0 keeps in-cluster traffic from the"
              + " real load balancer",
          List.of(
              "seed 001",
              "https://kubernetes.io/docs/concepts/services-networking/service/#load-balancer-ip-mode"));

  static final Catalogue.Entry EXTERNALIP_IS_NODE_IP =
      new Catalogue.Entry(
          "externalip-is-node-ip",
          Severity.ERROR,
          "an external IP equal to a node IP is bound on kube-ipvs0 and hijacks the node's own"
              + " traffic",
          List.of("book: externalIPs in IPVS mode"));

  static final Catalogue.Entry HOST_FIREWALL_REJECTS_VIP =
      new Catalogue.Entry(
          "host-firewall-rejects-vip",
          Severity.ERROR,
          "a host firewall rule in filter INPUT rejects traffic to Service VIPs (IPVS mode)",
          List.of("https://github.com/kubernetes/kubernetes/issues/65158"));

  static final Catalogue.Entry ETP_LOCAL_EMPTY_VIRTUAL_SERVER =
      new Catalogue.Entry(
          "etp-local-empty-virtual-server",
          Severity.WARNING,
          "an externalTrafficPolicy=Local virtual server without real servers refuses in-cluster"
              + " traffic (kube-proxy before 1.24)",
          List.of("seed 001", "https://github.com/kubernetes/kubernetes/pull/97081"));

  static final Catalogue.Entry ETP_LOCAL_NO_SNAT_REMOTE_ENDPOINTS =
      new Catalogue.Entry(
          "etp-local-no-snat-remote-endpoints",
          Severity.WARNING,
          "the node's own connections to an externalTrafficPolicy=Local address reach remote"
              + " endpoints unmasqueraded, with the load-balancer IP as source",
          List.of(
              "seed 001",
              "https://github.com/kubernetes/kubernetes/pull/97081",
              "https://github.com/kubernetes/kubernetes/issues/89869"));

  static final Catalogue.Entry IPSET_MISSING =
      new Catalogue.Entry(
          "ipset-missing",
          Severity.ERROR,
          "kube-proxy's IPVS-mode ipsets are missing: its iptables rules cannot be written",
          List.of("https://github.com/kubernetes/kubernetes/issues/65158"));

  static final Catalogue.Entry LOCALHOST_NODEPORT_UNSUPPORTED =
      new Catalogue.Entry(
          "localhost-nodeport-unsupported",
          Severity.INFO,
          "127.0.0.1:NodePort does not reach the Service in IPVS or nftables mode",
          List.of("https://github.com/kubernetes/kubernetes/issues/67730"));

  /** The sets kube-proxy's IPVS mode creates at start, whatever Services exist. */
  private static final List<String> CORE_SETS = List.of("KUBE-CLUSTER-IP", "KUBE-LOOP-BACK");

  /** The ipsets kube-proxy's IPVS mode lists eTP=Local addresses in. */
  private static final List<String> LOCAL_SETS =
      List.of("KUBE-LOAD-BALANCER-LOCAL", "KUBE-EXTERNAL-IP-LOCAL");

  /**
   * How many distinct virtual addresses are traced at most (each trace walks every real server).
   */
  private static final int MAX_TRACED = 16;

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(
        MISSING_CLUSTER_CIDR,
        VIP_AS_SOURCE,
        LB_IP_BOUND_LOCALLY,
        EXTERNALIP_IS_NODE_IP,
        HOST_FIREWALL_REJECTS_VIP,
        ETP_LOCAL_EMPTY_VIRTUAL_SERVER,
        ETP_LOCAL_NO_SNAT_REMOTE_ENDPOINTS,
        IPSET_MISSING,
        LOCALHOST_NODEPORT_UNSUPPORTED);
  }

  @Override
  public List<Finding> run(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    if (IpvsFacts.ipvsMode(ctx)) {
      clusterCidrIpvs(ctx).ifPresent(out::add);
      vipAsSource(ctx).ifPresent(out::add);
      out.addAll(boundLoadBalancers(ctx));
      out.addAll(externalIpIsNodeIp(ctx));
      hostFirewall(ctx).ifPresent(out::add);
      out.addAll(etpLocal(ctx));
      ipsetMissing(ctx).ifPresent(out::add);
      localhostNodePort(ctx).ifPresent(out::add);
    } else if (iptablesMode(ctx)) {
      clusterCidrIptables(ctx).ifPresent(out::add);
    }
    if (!IpvsFacts.ipvsMode(ctx)) {
      localhostNodePortNftables(ctx).ifPresent(out::add);
    }
    return out;
  }

  // --- missing-cluster-cidr --------------------------------------------------------------------

  /** How a KUBE-MARK-MASQ rule for ClusterIPs limits the sources it marks. */
  private enum MasqScope {
    /** Every source (masquerade-all), a VIP source (src,dst) or a pod-network test that works. */
    OFF_CLUSTER,
    /** "! -s C" with C containing the ClusterIPs themselves: the service CIDR given as pod CIDR. */
    SERVICE_CIDR
  }

  private static MasqScope scope(DoctorContext ctx, Rule r, Set<String> clusterIps) {
    Optional<Arg.Param> src = r.param("-s");
    if (src.isEmpty() || !src.get().negated()) {
      return MasqScope.OFF_CLUSTER;
    }
    Cidr c;
    try {
      c = Cidr.parseSloppy(src.get().value().text());
    } catch (IllegalArgumentException e) {
      return MasqScope.OFF_CLUSTER;
    }
    boolean holdsVip = clusterIps.stream().anyMatch(c::contains);
    boolean isServiceCidr =
        ctx.facts().serviceCidrs().stream()
            .anyMatch(s -> !s.ipv6() && (c.contains(s.address()) || s.contains(c.address())));
    return holdsVip || isServiceCidr ? MasqScope.SERVICE_CIDR : MasqScope.OFF_CLUSTER;
  }

  private Optional<Finding> clusterCidrIpvs(DoctorContext ctx) {
    // Without ipset-save the rule is still judged from the nat table alone: kube-proxy's IPVS
    // mode has always written it as "-m set --match-set KUBE-CLUSTER-IP dst,dst -j
    // KUBE-MARK-MASQ" in nat KUBE-SERVICES (with "! -s <cluster CIDR>", or without -s for
    // --masquerade-all), so its absence from a KUBE-SERVICES shown whole is the finding whatever
    // the set holds; the ClusterIPs are then the IPVS virtual servers' addresses.
    boolean sets = ctx.node().ipsets().containsKey("KUBE-CLUSTER-IP");
    if (!sets && (ctx.files().has("ipset-save.txt") || ctx.node().ipvs().services().isEmpty())) {
      return Optional.empty();
    }
    List<Table> nats = IpvsFacts.natTables(ctx.node());
    if (nats.isEmpty()) {
      ctx.assume("no iptables nat table: the ClusterIP masquerade rule of IPVS mode not checked");
      return Optional.empty();
    }
    Set<String> vips = new LinkedHashSet<>();
    if (sets) {
      vips.addAll(IpvsFacts.setIps(ctx.node(), "KUBE-CLUSTER-IP"));
    } else {
      ctx.node().ipvs().services().forEach(v -> vips.add(v.server().address()));
    }
    InputCoverage cov = InputCoverage.of(ctx);
    boolean whole = nats.stream().anyMatch(t -> cov.chain(cov.fileOf(t), "nat", "KUBE-SERVICES"));
    if (!whole) {
      whole = nats.stream().anyMatch(t -> cov.table(cov.fileOf(t), "nat", true));
    }
    if (!whole) {
      // A fragment may leave the masquerade rule out: judge only a KUBE-SERVICES shown whole.
      ctx.assume(
          "KUBE-SERVICES (nat) not shown whole: the ClusterIP masquerade rule of IPVS mode not"
              + " checked");
      return Optional.empty();
    }
    if (!sets) {
      ctx.assume(
          "no ipset-save.txt: the ClusterIPs taken from the IPVS virtual servers ("
              + String.join(", ", vips)
              + ")");
    }
    List<Rule> masq = new ArrayList<>();
    for (Table t : nats) {
      for (Rule r : t.rules("KUBE-SERVICES")) {
        Optional<IpvsFacts.SetMatch> m = IpvsFacts.setMatch(r);
        if (r.target().equals("KUBE-MARK-MASQ")
            && m.isPresent()
            && !m.get().negated()
            && m.get().set().equals("KUBE-CLUSTER-IP")) {
          masq.add(r);
        }
      }
    }
    if (masq.stream().anyMatch(r -> scope(ctx, r, vips) == MasqScope.OFF_CLUSTER)) {
      return Optional.empty();
    }
    List<Evidence> ev = new ArrayList<>();
    String summary;
    String why;
    if (masq.isEmpty()) {
      summary =
          "No KUBE-SERVICES rule marks ClusterIP traffic from off-cluster sources for masquerade"
              + " (KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ): kube-proxy runs without"
              + " --cluster-cidr";
      // What KUBE-SERVICES does mark, to show the ClusterIP rule is the one absent.
      for (Table t : nats) {
        for (Rule r : t.rules("KUBE-SERVICES")) {
          if (r.target().equals("KUBE-MARK-MASQ")) {
            ev.add(IpvsFacts.rule(ctx, r));
          }
        }
      }
      why =
          "A packet to a ClusterIP from a source outside the pod network (the node itself, a"
              + " host-network pod, a host routing the service range to this node) keeps its"
              + " source through IPVS's DNAT. The node's own connections even take the VIP bound on"
              + " kube-ipvs0 as source, so the endpoint replies to the VIP, which routes nowhere"
              + " back: the connection hangs.";
    } else {
      summary =
          "The ClusterIP masquerade rule exempts "
              + masq.get(0).param("-s").orElseThrow().value().text()
              + ", which holds the ClusterIPs themselves: --cluster-cidr is set to the service"
              + " CIDR, not the pod CIDR";
      masq.forEach(r -> ev.add(IpvsFacts.rule(ctx, r)));
      why =
          "The rule marks only sources outside --cluster-cidr; with the service CIDR there, a"
              + " connection the node makes from a VIP bound on kube-ipvs0 is exempt and leaves"
              + " unmasqueraded, so the reply to the VIP never comes back.";
    }
    String first = vips.iterator().hasNext() ? vips.iterator().next() : null;
    if (first != null && sets) {
      IpvsFacts.setMember(ctx, "KUBE-CLUSTER-IP", first).ifPresent(ev::add);
    } else if (first != null) {
      IpvsFacts.servicesOn(ctx.node(), first).stream()
          .findFirst()
          .ifPresent(v -> ev.add(IpvsFacts.virtualServer(ctx, v)));
    }
    flagEvidence(ctx).ifPresent(ev::add);
    nodeTraceEvidence(ctx, vips).ifPresent(ev::add);
    return Optional.of(
        MISSING_CLUSTER_CIDR.finding(
            summary,
            ev,
            why,
            "Start kube-proxy with --cluster-cidr=<the pod CIDR>"
                + podCidrHint(ctx)
                + " (clusterCIDR in the KubeProxyConfiguration), or --masquerade-all; kube-proxy"
                + " 1.11 and later without a cluster CIDR masquerade VIP-sourced packets instead"
                + " (KUBE-CLUSTER-IP src,dst)."));
  }

  private static boolean iptablesMode(DoctorContext ctx) {
    Optional<String> mode = ctx.facts().proxyMode();
    if (mode.isPresent()) {
      return mode.get().equals("iptables");
    }
    return IpvsFacts.natTables(ctx.node()).stream()
        .anyMatch(
            t ->
                t.rules("KUBE-SERVICES").stream()
                    .anyMatch(r -> r.target().startsWith("KUBE-SVC-")));
  }

  private Optional<Finding> clusterCidrIptables(DoctorContext ctx) {
    List<Rule> portals = new ArrayList<>();
    List<Rule> masq = new ArrayList<>();
    Set<String> vips = new LinkedHashSet<>();
    Table nat = null;
    for (Table t : IpvsFacts.natTables(ctx.node())) {
      for (Rule r : t.rules("KUBE-SERVICES")) {
        Optional<Arg.Param> d = r.param("-d");
        if (r.target().startsWith("KUBE-SVC-") && d.isPresent() && !d.get().negated()) {
          if (t.rules(r.target()).isEmpty()
              || !InputCoverage.of(ctx).chain(InputCoverage.of(ctx).fileOf(t), "nat", r.target())) {
            // A pasted fragment may show the portal without (all of) its chain: judge only
            // chains shown whole.
            ctx.assume(
                r.target()
                    + " is not in the input: its masquerade rule for off-cluster sources"
                    + " not checked");
            continue;
          }
          String vip = d.get().value().text().replaceFirst("/32$", "");
          portals.add(r);
          vips.add(vip);
          nat = t;
          for (Rule s : t.rules(r.target())) {
            if (s.target().equals("KUBE-MARK-MASQ") && s.param("-d").isPresent()) {
              masq.add(s);
            }
          }
        }
      }
    }
    if (portals.isEmpty()
        || masq.stream().anyMatch(r -> scope(ctx, r, vips) == MasqScope.OFF_CLUSTER)) {
      return Optional.empty();
    }
    List<Evidence> ev = new ArrayList<>();
    Rule portal = portals.get(0);
    ev.add(IpvsFacts.rule(ctx, portal));
    String summary;
    Severity severity = MISSING_CLUSTER_CIDR.severity();
    String why =
        "A client outside the pod network that reaches a ClusterIP through this node (a host"
            + " routing the service range here, a VM on the node network) is DNATed to an"
            + " endpoint but keeps its own source; an endpoint on another node replies"
            + " straight to the client from the pod's address, which the client never asked,"
            + " so the connection fails.";
    if (masq.isEmpty()) {
      List<Rule> chain = nat.rules(portal.target());
      if (!chain.isEmpty()) {
        ev.add(IpvsFacts.rule(ctx, chain.get(0)));
      }
      summary =
          "No service chain marks ClusterIP traffic from off-cluster sources for masquerade ("
              + portals.size()
              + " ClusterIP portal(s), none with \"! -s <pod CIDR> ... -j KUBE-MARK-MASQ\"):"
              + " kube-proxy runs without --cluster-cidr";
    } else {
      masq.stream().limit(3).forEach(r -> ev.add(IpvsFacts.rule(ctx, r)));
      summary =
          "The ClusterIP masquerade rules exempt "
              + masq.get(0).param("-s").orElseThrow().value().text()
              + ", which holds the ClusterIPs themselves: --cluster-cidr is the service CIDR";
      // Measured in the lab (ServiceCidrAsClusterCidrLabTest): off-cluster clients lie outside
      // the service range and are still masqueraded; it is the pods that change.
      severity = Severity.WARNING;
      why =
          "kube-proxy marks for masquerade every source outside --cluster-cidr. With the service"
              + " CIDR there, off-cluster clients are still masqueraded (their addresses lie"
              + " outside it), but so are the pods: a pod's connection to a ClusterIP reaches"
              + " the endpoint from the node's address, not the pod's, so NetworkPolicies,"
              + " logs and rate limits keyed on the client pod see the node instead. Only a"
              + " source inside the service range goes unmasqueraded; no address of an"
              + " iptables-mode node lies there, but in IPVS mode the node's own connections"
              + " from a VIP on kube-ipvs0 do, and their replies never return (seed 000).";
    }
    flagEvidence(ctx).ifPresent(ev::add);
    return Optional.of(
        MISSING_CLUSTER_CIDR.finding(
            severity,
            summary,
            ev,
            why,
            "Start kube-proxy with --cluster-cidr=<the pod CIDR>"
                + podCidrHint(ctx)
                + " (clusterCIDR in the KubeProxyConfiguration), or --masquerade-all."));
  }

  private static String podCidrHint(DoctorContext ctx) {
    List<Cidr> c =
        ctx.facts().clusterCidrs().isEmpty() ? ctx.facts().podCidrs() : ctx.facts().clusterCidrs();
    return c.isEmpty() ? "" : " (" + c.get(0) + ")";
  }

  /**
   * Which --cluster-cidr kube-proxy runs with, where the input says: node.yaml's proxyArgs line, or
   * the proxy's command line (proxy-process.txt's line on a bundle, /proc/PID/cmdline live).
   */
  private static Optional<Evidence> flagEvidence(DoctorContext ctx) {
    if (ctx.facts().proxyArgs().isEmpty()) {
      return Optional.empty();
    }
    String said =
        ctx.facts()
            .flag("--cluster-cidr")
            .map(v -> "--cluster-cidr=" + v)
            .orElse("no --cluster-cidr among kube-proxy's flags");
    Optional<Evidence> yaml =
        ctx.files()
            .first("node.yaml", l -> l.strip().startsWith("proxyArgs"))
            // The label in front, so the text ends with the line as the file has it.
            .map(e -> new Evidence(e.where(), said + ": " + e.text()));
    if (yaml.isPresent()) {
      return yaml;
    }
    return ProxyFlags.evidence(ctx.files(), "--cluster-cidr")
        .or(() -> ProxyFlags.commandLine(ctx.files(), "no --cluster-cidr"));
  }

  /** The node's own connection to a ClusterIP, traced: its source after NAT. */
  private static Optional<Evidence> nodeTraceEvidence(DoctorContext ctx, Set<String> vips) {
    for (String vip : vips) {
      List<IpvsService> on = IpvsFacts.servicesOn(ctx.node(), vip);
      if (on.isEmpty()) {
        continue;
      }
      IpvsService s = on.get(0);
      TraceResult t = ctx.trace(spec(s));
      for (Outcome o : t.outcomes()) {
        if (o.delivered() && o.snat() == null && o.finalSource() != null) {
          return Optional.of(traceEvidence(s, o));
        }
      }
      return Optional.empty();
    }
    return Optional.empty();
  }

  private static PacketSpec spec(IpvsService s) {
    return new PacketSpec(
        null,
        40000,
        s.server().address(),
        s.server().port(),
        s.server().kind().name().toLowerCase(Locale.ROOT),
        null);
  }

  private static Evidence traceEvidence(IpvsService s, Outcome o) {
    StringBuilder b = new StringBuilder("from the node: leaves ");
    b.append(o.finalSource())
        .append(" -> ")
        .append(o.finalDestination())
        .append(
            o.outInterface() == null || o.outInterface().isEmpty() ? "" : " on " + o.outInterface())
        .append(o.snat() == null ? ", not masqueraded" : ", masqueraded to " + o.snat());
    if (o.reply() != null) {
      b.append(
          o.reply().returnsHere()
              ? "; the reply returns"
              : "; the reply does not return (" + o.reply().reasonCode() + ")");
    }
    return Evidence.command(
        "svcproxy trace --dst "
            + s.server().target()
            + " --proto "
            + s.server().kind().name().toLowerCase(Locale.ROOT),
        b.toString());
  }

  // --- vip-as-source ---------------------------------------------------------------------------

  private Optional<Finding> vipAsSource(DoctorContext ctx) {
    if (ctx.node().iptables().isEmpty()) {
      // Without the rules the tracer would take "no masquerade" for a fact.
      ctx.assume(
          "no iptables-save.txt: whether the node's VIP-sourced connections are masqueraded not checked");
      return Optional.empty();
    }
    if (!IpvsFacts.boundOnDummy(ctx.node()).isEmpty()
        && !natShownForNodeTraffic(
            ctx, "whether the node's VIP-sourced connections are masqueraded")) {
      return Optional.empty();
    }
    // Without the node's routes (`ip route` not given) the trace stops at the real server's
    // route. The VIP as source does not depend on them: the kernel adds a local route with the
    // address as preferred source for every address (kube-ipvs0's VIPs too), and the source is
    // chosen from the route to the VIP. Nor does the masquerade decision: kube-proxy's
    // KUBE-POSTROUTING masquerades by mark, not by output interface. So the node's connection is
    // traced with a default route through an interface whose name and address are unknown,
    // and the doctor says so.
    Tracer tracer = null;
    boolean routesUnknown = !ctx.files().has(NodeModel.routeFile(ctx.files()));
    if (routesUnknown) {
      tracer = new Tracer(withAssumedUplink(ctx.node()));
    }
    Set<String> nodeOwn = IpvsFacts.nodeAddresses(ctx);
    List<String> bad = new ArrayList<>();
    List<Evidence> ev = new ArrayList<>();
    int traced = 0;
    for (String vip : IpvsFacts.boundOnDummy(ctx.node())) {
      if (nodeOwn.contains(vip)) {
        continue; // a node address on kube-ipvs0 is externalip-is-node-ip's business
      }
      List<IpvsService> on = IpvsFacts.servicesOn(ctx.node(), vip);
      if (on.isEmpty() || traced++ >= MAX_TRACED) {
        continue;
      }
      IpvsService s = on.get(0);
      if (etpLocal(ctx, s)) {
        continue; // etp-local-no-snat-remote-endpoints names it
      }
      TraceResult t = tracer == null ? ctx.trace(spec(s)) : tracer.trace(spec(s));
      Optional<Outcome> hung =
          t.outcomes().stream()
              .filter(
                  o ->
                      o.delivered()
                          && vip.equals(o.finalSource())
                          && o.reply() != null
                          && !o.reply().returnsHere())
              .findFirst();
      if (hung.isEmpty()) {
        continue;
      }
      bad.add(s.server().target());
      if (ev.isEmpty()) {
        ev.add(IpvsFacts.address(ctx, IpvsFacts.DUMMY, vip));
        IpvsFacts.localRoute(ctx, vip).ifPresent(ev::add);
        ev.add(IpvsFacts.virtualServer(ctx, s));
        ev.add(traceEvidence(s, hung.get()));
      }
    }
    if (bad.isEmpty()) {
      return Optional.empty();
    }
    if (tracer != null) {
      ctx.assume(
          "no routes given: the node's connections to "
              + String.join(", ", bad)
              + " traced with the VIP's local route (the kernel's, for an address on kube-ipvs0)"
              + " and an assumed default route via a gateway out of an interface whose name and"
              + " address are not shown, "
              + UPLINK);
    }
    String vip0 = bad.get(0).substring(0, bad.get(0).lastIndexOf(':'));
    return Optional.of(
        VIP_AS_SOURCE.finding(
            "The node's own connections to "
                + String.join(", ", bad.subList(0, Math.min(3, bad.size())))
                + (bad.size() > 3 ? " and " + (bad.size() - 3) + " more" : "")
                + " leave with the VIP "
                + vip0
                + " as source (it is bound on kube-ipvs0) and the reply cannot return",
            ev,
            "The VIP is a local address, so the route to it (table local) gives the VIP itself as"
                + " the preferred source; IPVS rewrites only the destination, and nothing"
                + " masquerades the packet, so it reaches a real server off this node with source"
                + " "
                + vip0
                + ". The server answers the VIP, which its network routes elsewhere (or nowhere):"
                + " the node's connections, and those of host-network pods, hang in SYN-SENT while"
                + " pods (whose source is their own address) work.",
            "Make kube-proxy masquerade these packets: --cluster-cidr=<the pod CIDR>"
                + podCidrHint(ctx)
                + " or --masquerade-all (kube-proxy 1.11 and later also masquerade VIP-sourced"
                + " packets without it). As a stopgap: iptables -t nat -A POSTROUTING -s "
                + vip0
                + "/32 -j MASQUERADE."));
  }

  /** The interface a trace without the node's routes assumes the default route leaves by. */
  private static final String UPLINK = "(uplink, not shown)";

  private static final String UPLINK_GATEWAY = "(gateway, not shown)";

  /**
   * {@code node} with an up interface {@link #UPLINK} (no address) and a default route through it:
   * the routes of a node whose `ip route` was not given, as far as an off-node destination goes.
   */
  private static NodeState withAssumedUplink(NodeState node) {
    List<NodeState.Interface> ifs = new ArrayList<>(node.interfaces());
    ifs.add(new NodeState.Interface(UPLINK, List.of(), "", true));
    List<NodeState.Route> routes = new ArrayList<>(node.routes());
    // The kernel's local route of each address (the VIP's gives it as preferred source).
    for (NodeState.Interface i : node.interfaces()) {
      for (NodeState.Address a : i.addresses()) {
        boolean has =
            routes.stream()
                .anyMatch(
                    r ->
                        r.table().equals("local")
                            && r.type().equals("local")
                            && r.dst().replace("/32", "").equals(a.ip()));
        if (!has && dev.svcproxy.model.Ip.isIpv4(a.ip())) {
          routes.add(
              new NodeState.Route("local", "local", a.ip(), "", i.name(), a.ip(), 0, "host"));
        }
      }
    }
    // Off-node destinations through a gateway: a peer then answers an address that is not its
    // link's through its own gateway, not this node (unless the network routes it here).
    routes.add(
        new NodeState.Route("main", "unicast", "0.0.0.0/0", UPLINK_GATEWAY, UPLINK, "", 0, ""));
    return new NodeState(
        ifs,
        routes,
        node.rules(),
        node.sysctls(),
        node.iptables(),
        node.ipsets(),
        node.conntrack(),
        node.recent(),
        node.warnings(),
        node.notes(),
        node.ipvs(),
        node.ipvsConnections(),
        node.nftables());
  }

  /**
   * Whether the nat chains a node's own connection walks (OUTPUT, POSTROUTING and what they jump
   * to) are shown whole: otherwise "nothing masquerades it" may only be unseen, and {@code what} is
   * recorded as not checked.
   */
  private static boolean natShownForNodeTraffic(DoctorContext ctx, String what) {
    InputCoverage cov = InputCoverage.of(ctx);
    List<String> unseen = new ArrayList<>();
    for (String label : NodeNetwork.labels(ctx.node(), "nat")) {
      for (String root : List.of("OUTPUT", "POSTROUTING")) {
        cov.unshownFrom(label, root).forEach(c -> unseen.add(label + " " + c));
      }
    }
    if (NodeNetwork.labels(ctx.node(), "nat").isEmpty()
        && !cov.table(NodeNetwork.file(ctx.files(), "nat"), "nat")) {
      unseen.add("nat");
    }
    if (unseen.isEmpty()) {
      return true;
    }
    if (IpvsFacts.natTables(ctx.node()).stream()
        .anyMatch(t -> cov.table(cov.fileOf(t), "nat", true))) {
      return true;
    }
    ctx.assume("not shown whole: " + String.join(", ", unseen) + ": " + what + " not checked");
    return false;
  }

  // --- lb-ip-bound-locally ---------------------------------------------------------------------

  private List<Finding> boundLoadBalancers(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    Set<String> lbs = IpvsFacts.loadBalancerIps(ctx);
    Set<String> eips = IpvsFacts.externalIps(ctx);
    Set<String> nodeOwn = IpvsFacts.nodeAddresses(ctx);
    boolean classified =
        ctx.node().ipsets().containsKey("KUBE-CLUSTER-IP")
            || ctx.cluster().isPresent()
            || !ctx.facts().serviceCidrs().isEmpty();
    int traced = 0;
    for (String ip : IpvsFacts.boundOnDummy(ctx.node())) {
      if (nodeOwn.contains(ip)) {
        continue;
      }
      String kind;
      if (lbs.contains(ip)) {
        kind = "LoadBalancer IP";
      } else if (eips.contains(ip)) {
        kind = "external IP";
      } else if (!classified) {
        // kube-proxy binds every ClusterIP on kube-ipvs0 as well as LB and external IPs, and
        // every Service has a ClusterIP: without the ipsets, a service CIDR or the cluster's
        // objects the address is most likely a ClusterIP (seed 000's 10.20.0.1 is the API
        // server's), and calling it a load balancer's would name a fault the node may not have.
        // vip-as-source still applies to it (any VIP bound there); this one is left unnamed.
        ctx.assume(
            "no ipsets, service CIDR or cluster objects: whether "
                + ip
                + " on kube-ipvs0 is a ClusterIP or a load-balancer/external IP is unknown;"
                + " lb-ip-bound-locally not checked for it");
        continue;
      } else {
        continue;
      }
      List<IpvsService> served = IpvsFacts.servicesOn(ctx.node(), ip);
      if (served.isEmpty() || traced++ >= MAX_TRACED) {
        continue;
      }
      List<Evidence> ev = new ArrayList<>();
      ev.add(IpvsFacts.address(ctx, IpvsFacts.DUMMY, ip));
      IpvsFacts.localRoute(ctx, ip).ifPresent(ev::add);
      IpvsFacts.setMember(ctx, "KUBE-LOAD-BALANCER", ip)
          .or(() -> IpvsFacts.setMember(ctx, "KUBE-EXTERNAL-IP", ip))
          .ifPresent(ev::add);
      served.forEach(s -> ev.add(IpvsFacts.virtualServer(ctx, s)));
      Set<Integer> ports = new LinkedHashSet<>();
      served.forEach(s -> ports.add(s.server().port()));
      int other = 443;
      while (ports.contains(other)) {
        other++;
      }
      // What the node does with a port the Service does not serve: the real LB never sees it.
      TraceResult t = ctx.trace(new PacketSpec(null, 40000, ip, other, "tcp", null));
      String fate = "";
      for (Outcome o : t.outcomes()) {
        String what;
        if (o.verdict() == Verdict.REJECT || o.verdict() == Verdict.DROP) {
          Optional<dev.svcproxy.trace.Step> at =
              o.steps().stream().filter(s -> s.reasonCode() != null).findFirst();
          what =
              (o.verdict() == Verdict.REJECT ? "rejected" : "dropped")
                  + at.filter(s -> !s.chain().isEmpty())
                      .map(s -> " by " + s.table() + " " + s.chain() + " rule " + s.rule())
                      .orElse("")
                  + " on this node";
        } else if ("local".equals(o.delivery())) {
          what = "delivered to the node's own stack (refused unless something listens there)";
        } else {
          continue;
        }
        fate = what;
        ev.add(
            Evidence.command(
                "svcproxy trace --dst " + ip + ":" + other,
                "from the node: " + ip + ":" + other + " " + what));
        break;
      }
      String ports0 = served.stream().map(s -> s.server().key()).toList().toString();
      out.add(
          LB_IP_BOUND_LOCALLY.finding(
              "The "
                  + kind
                  + " "
                  + ip
                  + " is bound on kube-ipvs0: the node and its pods never reach the real load"
                  + " balancer at "
                  + ip
                  + "; only "
                  + ports0
                  + " is served here by IPVS"
                  + (fate.isEmpty() ? "" : ", and port " + other + " is " + fate),
              ev,
              "kube-proxy's IPVS mode binds every LoadBalancer and external IP on kube-ipvs0 of"
                  + " every node, so the address is local: traffic from inside the cluster to it"
                  + " never leaves the node. Ports of the Service go to its endpoints through the"
                  + " node's IPVS (bypassing the load balancer's own features: TLS termination,"
                  + " proxy protocol, its health checks); any other port the load balancer serves"
                  + " for something else is refused here, although clients outside the cluster"
                  + " reach it.",
              "Do not share this load balancer's IP between the Service and other listeners, or"
                  + " keep kube-proxy from binding it: status.loadBalancer.ingress[].ipMode: Proxy"
                  + " (Kubernetes 1.30+, set by the cloud controller), or the cloud's hostname"
                  + " annotation (e.g. service.beta.kubernetes.io/alibaba-cloud-loadbalancer-hostname),"
                  + " so in-cluster traffic goes out to the load balancer."));
    }
    return out;
  }

  // --- externalip-is-node-ip -------------------------------------------------------------------

  private List<Finding> externalIpIsNodeIp(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    for (String ip : IpvsFacts.boundOnDummy(ctx.node())) {
      List<String> holders = IpvsFacts.otherHolders(ctx.node(), ip);
      boolean nodeIp = !holders.isEmpty() || ctx.facts().nodeIps().contains(ip);
      if (!nodeIp) {
        continue;
      }
      List<Evidence> ev = new ArrayList<>();
      ev.add(IpvsFacts.address(ctx, IpvsFacts.DUMMY, ip));
      holders.forEach(h -> ev.add(IpvsFacts.address(ctx, h, ip)));
      IpvsFacts.setMember(ctx, "KUBE-EXTERNAL-IP", ip)
          .or(() -> IpvsFacts.setMember(ctx, "KUBE-LOAD-BALANCER", ip))
          .ifPresent(ev::add);
      List<IpvsService> served = IpvsFacts.servicesOn(ctx.node(), ip);
      served.forEach(s -> ev.add(IpvsFacts.virtualServer(ctx, s)));
      out.add(
          EXTERNALIP_IS_NODE_IP.finding(
              "The node's own address "
                  + ip
                  + " is bound on kube-ipvs0 as a Service's external IP"
                  + (served.isEmpty()
                      ? ""
                      : ": "
                          + served.stream().map(s -> s.server().key()).toList()
                          + " now go to the Service's endpoints, on every node"),
              ev,
              "In IPVS mode kube-proxy binds each external IP on kube-ipvs0 and gives it a virtual"
                  + " server on every node. With a node's address as external IP, connections to"
                  + " that address and port (ssh, the kubelet, the apiserver, another Service's"
                  + " NodePort) are taken by IPVS instead of the node's own listener, on this node"
                  + " and on every other one (where the address becomes local too, so traffic to"
                  + " the real node never leaves them); and when kube-proxy later removes the"
                  + " external IP it deletes the address, which takes the node's own with it.",
              "Remove the node's address from the Service's spec.externalIPs (an admission policy"
                  + " such as DenyServiceExternalIPs prevents it); then check that "
                  + ip
                  + " is still on "
                  + (holders.isEmpty() ? "the node's interface" : holders.get(0))
                  + " and gone from kube-ipvs0 (ip addr del "
                  + ip
                  + "/32 dev kube-ipvs0)."));
    }
    return out;
  }

  // --- host-firewall-rejects-vip ---------------------------------------------------------------

  /**
   * A pod's address on this node, to trace VIP traffic from (none when no pod network is known).
   */
  static Optional<String> podSource(DoctorContext ctx) {
    Set<String> local = new LinkedHashSet<>();
    ctx.node().interfaces().forEach(i -> i.addresses().forEach(a -> local.add(a.ip())));
    List<String> bases = new ArrayList<>();
    for (String bridge : List.of("cni0", "cbr0")) {
      ctx.node()
          .iface(bridge)
          .ifPresent(i -> i.addresses().stream().findFirst().ifPresent(a -> bases.add(a.ip())));
    }
    ctx.facts().podCidrs().stream().filter(c -> !c.ipv6()).forEach(c -> bases.add(c.address()));
    for (String b : bases) {
      long v = dev.svcproxy.model.Ip.ipv4ToLong(b);
      for (int k = 1; k < 8 && v >= 0; k++) {
        String ip = dev.svcproxy.model.Ip.longToIpv4(v + k);
        if (!local.contains(ip)) {
          return Optional.of(ip);
        }
      }
    }
    return Optional.empty();
  }

  private Optional<Finding> hostFirewall(DoctorContext ctx) {
    return HostFirewall.find(ctx, HOST_FIREWALL_REJECTS_VIP);
  }

  // --- etp-local-* -------------------------------------------------------------------------------

  private static String member(IpvsService s) {
    return s.server().address()
        + ","
        + s.server().kind().name().toLowerCase(Locale.ROOT)
        + ":"
        + s.server().port();
  }

  /**
   * Whether kube-proxy lists the virtual server's address and port as externalTrafficPolicy=Local.
   */
  private static boolean etpLocal(DoctorContext ctx, IpvsService s) {
    return localSet(ctx, s).isPresent();
  }

  private static Optional<String> localSet(DoctorContext ctx, IpvsService s) {
    for (String set : LOCAL_SETS) {
      NodeState.IpSet is = ctx.node().ipsets().get(set);
      if (is != null && is.members().contains(member(s))) {
        return Optional.of(set);
      }
    }
    return Optional.empty();
  }

  private List<Finding> etpLocal(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    Set<String> nodeOwn = IpvsFacts.nodeAddresses(ctx);
    int traced = 0;
    for (IpvsService s : ctx.node().ipvs().services()) {
      Optional<String> set = localSet(ctx, s);
      if (set.isEmpty() || traced >= MAX_TRACED) {
        continue;
      }
      String addr = s.server().address();
      List<Evidence> ev = new ArrayList<>();
      ev.add(IpvsFacts.virtualServer(ctx, s));
      IpvsFacts.setMember(ctx, set.get(), addr).ifPresent(ev::add);
      if (s.reals().isEmpty()
          && !InputCoverage.of(ctx)
              .whole(
                  "ipvsadm-save.txt",
                  "whether the eTP=Local virtual server "
                      + s.server().key()
                      + " has real servers")) {
        continue;
      }
      if (s.reals().isEmpty()) {
        traced++;
        Optional<String> src = podSource(ctx);
        src.ifPresent(
            ip -> {
              TraceResult t =
                  ctx.trace(
                      new PacketSpec(
                          ip,
                          40000,
                          addr,
                          s.server().port(),
                          s.server().kind().name().toLowerCase(Locale.ROOT),
                          null));
              t.outcomes().stream()
                  .findFirst()
                  .ifPresent(
                      o ->
                          ev.add(
                              Evidence.command(
                                  "svcproxy trace --src " + ip + " --dst " + s.server().target(),
                                  "from a pod: "
                                      + o.verdict()
                                      + (o.reasonCode() == null ? "" : " (" + o.reasonCode() + ")")
                                      + ("local".equals(o.delivery())
                                          ? ", delivered to the node's own stack"
                                          : ""))));
            });
        out.add(
            ETP_LOCAL_EMPTY_VIRTUAL_SERVER.finding(
                "The externalTrafficPolicy=Local virtual server "
                    + s.server().key()
                    + " has no real servers on this node: pods and the node itself are refused"
                    + " there, although the Service has endpoints elsewhere",
                ev,
                "kube-proxy before 1.24 gave an eTP=Local load-balancer, external IP or NodePort"
                    + " virtual server only the node's own endpoints; on a node without one it is"
                    + " empty. The address is bound on kube-ipvs0, so in-cluster traffic to it never"
                    + " reaches the load balancer, and IPVS has nowhere to send it: the connection"
                    + " is refused (external clients are steered away by the health check node port"
                    + " and are not affected).",
                "Upgrade kube-proxy to 1.24 or later (PR #97081: in-cluster traffic to an eTP=Local"
                    + " address uses every endpoint), or reach the Service through its ClusterIP"
                    + " from inside the cluster, or run an endpoint on every node (a DaemonSet)."));
        continue;
      }
      if (!IpvsFacts.boundOnDummy(ctx.node()).contains(addr) || nodeOwn.contains(addr)) {
        continue;
      }
      if (!natShownForNodeTraffic(
          ctx, "whether the node's connections to " + addr + " are masqueraded")) {
        continue;
      }
      traced++;
      TraceResult t = ctx.trace(spec(s));
      Optional<Outcome> hung =
          t.outcomes().stream()
              .filter(
                  o ->
                      o.delivered()
                          && addr.equals(o.finalSource())
                          && o.snat() == null
                          && o.reply() != null
                          && !o.reply().returnsHere())
              .findFirst();
      if (hung.isEmpty()) {
        continue;
      }
      ev.add(IpvsFacts.address(ctx, IpvsFacts.DUMMY, addr));
      ev.add(traceEvidence(s, hung.get()));
      out.add(
          ETP_LOCAL_NO_SNAT_REMOTE_ENDPOINTS.finding(
              "The node's own connections to the externalTrafficPolicy=Local address "
                  + s.server().target()
                  + " go to an endpoint on another node with source "
                  + addr
                  + " (not masqueraded) and the reply cannot return",
              ev,
              "Since kube-proxy 1.24 a node without local endpoints gives an eTP=Local virtual"
                  + " server every endpoint for in-cluster traffic, but "
                  + set.get()
                  + " exempts the address from masquerade to keep client addresses. A connection"
                  + " the node (or a host-network pod) makes takes the address bound on"
                  + " kube-ipvs0 as its source; the remote endpoint replies to it, and that reply"
                  + " goes to the real load balancer instead of this node. Pods (their own"
                  + " source) are not affected.",
              "From nodes and host-network pods, use the Service's ClusterIP instead of the"
                  + " load-balancer address; or run an endpoint on every node (a DaemonSet), or"
                  + " set externalTrafficPolicy: Cluster if the client address is not needed."));
    }
    return out;
  }

  // --- ipset-missing -----------------------------------------------------------------------------

  private Optional<Finding> ipsetMissing(DoctorContext ctx) {
    if (ctx.node().ipvs().services().isEmpty() || !ctx.files().has("ipset-save.txt")) {
      return Optional.empty();
    }
    List<String> missing =
        CORE_SETS.stream().filter(n -> !ctx.node().ipsets().containsKey(n)).toList();
    if (missing.size() < CORE_SETS.size()) {
      return Optional.empty();
    }
    if (!InputCoverage.of(ctx).whole("ipset-save.txt", "whether kube-proxy's ipsets exist")) {
      return Optional.empty();
    }
    List<Evidence> ev = new ArrayList<>();
    List<String> present =
        ctx.node().ipsets().keySet().stream().filter(n -> n.startsWith("KUBE-")).sorted().toList();
    ev.add(
        ctx.files()
            .at(
                "ipset-save.txt",
                0,
                "no "
                    + String.join(", ", missing)
                    + (present.isEmpty() ? ": no KUBE-* set at all" : "; has " + present)));
    IpvsService s = ctx.node().ipvs().services().get(0);
    ev.add(IpvsFacts.virtualServer(ctx, s));
    long masq =
        IpvsFacts.natTables(ctx.node()).stream()
            .flatMap(t -> t.rules().stream())
            .filter(r -> r.target().equals("KUBE-MARK-MASQ"))
            .count();
    ev.add(
        ctx.files()
            .at(
                "iptables-save.txt",
                0,
                masq == 0
                    ? "no rule jumps to KUBE-MARK-MASQ"
                    : masq + " rule(s) jump to KUBE-MARK-MASQ"));
    return Optional.of(
        IPSET_MISSING.finding(
            "IPVS has "
                + ctx.node().ipvs().services().size()
                + " virtual server(s) but kube-proxy's ipsets ("
                + String.join(", ", missing)
                + ") do not exist: the iptables rules that use them are not written",
            ev,
            "kube-proxy's IPVS mode keeps every address and port in ipsets and writes its iptables"
                + " rules against them: the masquerade of off-cluster and VIP-sourced traffic,"
                + " hairpin (KUBE-LOOP-BACK), NodePorts, KUBE-IPVS-FILTER. When it cannot create"
                + " the sets (the ip_set modules or the ipset tool missing, or a userspace ipset"
                + " that does not know the kernel's set revisions) its iptables-restore fails, so"
                + " the virtual servers work only for pods: the node's own connections to a"
                + " Service leave unmasqueraded, hairpin and NodePort traffic from outside fail.",
            "Make ipset work on the node (modprobe ip_set ip_set_hash_ip ip_set_hash_ipport"
                + " ip_set_hash_ipportip ip_set_hash_ipportnet ip_set_hash_net ip_set_bitmap_port;"
                + " install an ipset tool matching the kernel), then restart kube-proxy and check"
                + " its log for ipset errors."));
  }

  // --- localhost-nodeport-unsupported
  // -------------------------------------------------------------

  private Optional<Finding> localhostNodePort(DoctorContext ctx) {
    Set<String> nodeOwn = IpvsFacts.nodeAddresses(ctx);
    Optional<IpvsService> nodePort =
        ctx.node().ipvs().services().stream()
            .filter(s -> s.server().kind() != dev.svcproxy.ipvs.VirtualServer.Kind.FWMARK)
            .filter(s -> nodeOwn.contains(s.server().address()))
            .filter(s -> !IpvsFacts.boundOnDummy(ctx.node()).contains(s.server().address()))
            .filter(s -> !s.server().address().startsWith("127."))
            .findFirst();
    if (nodePort.isEmpty()) {
      return Optional.empty();
    }
    IpvsService s = nodePort.get();
    String proto = s.server().kind().name().toLowerCase(Locale.ROOT);
    TraceResult t =
        ctx.trace(new PacketSpec(null, 40000, "127.0.0.1", s.server().port(), proto, null));
    if (t.outcomes().stream().anyMatch(o -> o.ipvs() != null || o.dnat() != null)) {
      return Optional.empty();
    }
    List<Evidence> ev = new ArrayList<>();
    ev.add(IpvsFacts.virtualServer(ctx, s));
    IpvsFacts.setMember(
            ctx,
            "KUBE-NODE-PORT-" + proto.toUpperCase(Locale.ROOT),
            Integer.toString(s.server().port()))
        .ifPresent(ev::add);
    String fate =
        t.outcomes().stream()
            .findFirst()
            .map(
                o ->
                    "local".equals(o.delivery())
                        ? "delivered to the node's own stack, no virtual server or DNAT"
                        : o.verdict() + (o.reasonCode() == null ? "" : " (" + o.reasonCode() + ")"))
            .orElse("no path");
    ev.add(
        Evidence.command(
            "svcproxy trace --dst 127.0.0.1:" + s.server().port() + " --proto " + proto,
            "from the node: 127.0.0.1:" + s.server().port() + " " + fate));
    return Optional.of(
        LOCALHOST_NODEPORT_UNSUPPORTED.finding(
            "NodePorts are served on the node's addresses ("
                + s.server().key()
                + ") but not on 127.0.0.1: localhost:"
                + s.server().port()
                + " reaches no Service in IPVS mode",
            ev,
            "kube-proxy's IPVS mode makes a virtual server for each NodePort on each node address"
                + " it picks (--nodeport-addresses), never on 127.0.0.1, and it has no DNAT rule"
                + " for loopback: a client on the node connecting to localhost:NodePort gets the"
                + " node's own stack (refused unless something listens there). iptables mode"
                + " serves it (with route_localnet=1); IPVS and nftables modes do not.",
            "Connect to the node's own address (or the ClusterIP) instead of 127.0.0.1; tools"
                + " that need localhost NodePorts need kube-proxy's iptables mode."));
  }

  /**
   * nftables mode: kube-proxy's {@code ip kube-proxy} table sends NodePorts to their Services
   * through the service-nodeports map, from its rule {@code ip daddr != 127.0.0.0/8 fib daddr type
   * local ... vmap @service-nodeports}; the traced 127.0.0.1:NodePort shows it takes no DNAT.
   */
  private Optional<Finding> localhostNodePortNftables(DoctorContext ctx) {
    for (Ruleset.Table t : ctx.node().nftables().tables()) {
      if (!t.family().equals("ip") || !t.name().equals("kube-proxy")) {
        continue;
      }
      Optional<Ruleset.NamedSet> map = t.set("service-nodeports");
      if (map.isEmpty() || map.get().elements().isEmpty()) {
        return Optional.empty();
      }
      Ruleset.Element e = map.get().elements().get(0);
      String[] key = NftPrinter.expr(e.key()).split(" \\. ");
      if (key.length != 2 || !key[1].matches("\\d{1,5}")) {
        return Optional.empty();
      }
      String proto = key[0];
      int port = Integer.parseInt(key[1]);
      if (!List.of("tcp", "udp", "sctp").contains(proto) || port > 65535) {
        return Optional.empty();
      }
      TraceResult tr = ctx.trace(new PacketSpec(null, 40000, "127.0.0.1", port, proto, null));
      if (tr.outcomes().isEmpty() || tr.outcomes().stream().anyMatch(o -> o.dnat() != null)) {
        return Optional.empty();
      }
      String fate =
          tr.outcomes().stream()
              .findFirst()
              .map(
                  o ->
                      "local".equals(o.delivery())
                          ? "delivered to the node's own stack, no DNAT"
                          : o.verdict()
                              + (o.reasonCode() == null ? "" : " (" + o.reasonCode() + ")"))
              .orElse("no path");
      List<Evidence> ev =
          List.of(
              Evidence.command(
                  "nft list map ip kube-proxy service-nodeports",
                  NftPrinter.expr(e.key()) + " : " + NftPrinter.expr(e.value())),
              Evidence.command(
                  "svcproxy trace --dst 127.0.0.1:" + port + " --proto " + proto,
                  "from the node: 127.0.0.1:" + port + " " + fate));
      return Optional.of(
          LOCALHOST_NODEPORT_UNSUPPORTED.finding(
              "NodePort "
                  + proto
                  + "/"
                  + port
                  + " is served on the node's addresses but not on 127.0.0.1: localhost:"
                  + port
                  + " reaches no Service in nftables mode",
              ev,
              "kube-proxy's nftables mode leaves 127.0.0.0/8 out of its NodePort rule (ip daddr"
                  + " != 127.0.0.0/8 fib daddr type local ... @service-nodeports) and does not set"
                  + " route_localnet: a client on the node connecting to localhost:NodePort gets"
                  + " the node's own stack (refused unless something listens there). iptables mode"
                  + " serves it (with route_localnet=1).",
              "Connect to the node's own address (or the ClusterIP) instead of 127.0.0.1; tools"
                  + " that need localhost NodePorts need kube-proxy's iptables mode."));
    }
    return Optional.empty();
  }
}
