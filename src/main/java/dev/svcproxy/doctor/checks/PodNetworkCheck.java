package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.Check;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.ProxyFlags;
import dev.svcproxy.doctor.Severity;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceResult;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The pod network against the node's own: a CNI IP pool that covers the host network (Calico's
 * default 192.168.0.0/16 on a 192.168.x.0/24 LAN: pod traffic to hosts there is not masqueraded and
 * their replies never come back), and pods addressed outside the pod network (a leftover CNI
 * config, such as podman's 87-podman-bridge.conflist, picked for some pods).
 */
public final class PodNetworkCheck implements Check {
  static final Catalogue.Entry OVERLAPS_NODE_NETWORK =
      new Catalogue.Entry(
          "pod-cidr-overlaps-node-network",
          Severity.ERROR,
          "The pod network (an IP pool or cluster CIDR) overlaps the node's own network",
          List.of(
              "book: calico-kube-controllers dial tcp 10.96.0.1:443: i/o timeout (IP pool"
                  + " 192.168.0.0/16 over the host network 192.168.21.0/24)",
              "book: flannel host-gw SNAT rules (FLANNEL-POSTRTG)"));

  static final Catalogue.Entry WRONG_SUBNET =
      new Catalogue.Entry(
          "cni-config-wrong-subnet",
          Severity.ERROR,
          "Pods on a bridge whose subnet is outside the pod network (a leftover CNI config)",
          List.of(
              "book: pod cannot reach the database, dial tcp ip:3306: i/o timeout (leftover"
                  + " /etc/cni/net.d/87-podman-bridge.conflist gave pods 10.88.0.0/16)",
              "https://github.com/containernetworking/cni/issues/585"));

  /** Calico's ipset of every IP pool (felix: "all-ipam-pools" with its IPv4 prefix). */
  static final String CALICO_ALL_POOLS = "cali40all-ipam-pools";

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(OVERLAPS_NODE_NETWORK, WRONG_SUBNET);
  }

  /** A range the pods of the cluster live in, and what shows it. */
  record PodRange(Cidr cidr, Evidence evidence) {}

  /** A subnet the node itself sits on, on which interface. */
  record NodeSubnet(Cidr cidr, String iface, NodeState.Address address) {}

  @Override
  public List<Finding> run(DoctorContext ctx) {
    List<PodRange> ranges = podRanges(ctx);
    if (ranges.isEmpty()) {
      ctx.assume(
          "the cluster's pod network is unknown (no node.yaml clusterCIDRs, no kube-proxy"
              + " masquerade rule with the cluster CIDR, no Calico pool ipset, no flannel"
              + " network): pod subnets not checked");
      return List.of();
    }
    List<NodeSubnet> nodeNets = nodeSubnets(ctx);
    List<Finding> out = new ArrayList<>();
    for (PodRange r : ranges) {
      for (NodeSubnet n : nodeNets) {
        if (NodeNetwork.overlaps(r.cidr(), n.cidr())) {
          out.add(overlap(ctx, r, n));
        }
      }
    }
    out.addAll(wrongSubnet(ctx, ranges, nodeNets));
    return out;
  }

  // --- the pod network's ranges ---

  /**
   * Every range the input says pods live in: node.yaml's clusterCIDRs, kube-proxy's --cluster-cidr
   * (its flag, or the {@code ! -s CIDR ... -j KUBE-MARK-MASQ} rules it renders from it), Calico's
   * IP pools (the all-pools ipset) and flannel's Network (subnet.env or its rules).
   */
  static List<PodRange> podRanges(DoctorContext ctx) {
    Map<String, PodRange> out = new LinkedHashMap<>();
    for (Cidr c : ctx.facts().clusterCidrs()) {
      if (!c.ipv6()) {
        out.putIfAbsent(
            c.toString(),
            new PodRange(
                c,
                ProxyFlags.source(ctx.files(), "clusterCIDRs", "--cluster-cidr")
                    .orElseGet(() -> ctx.files().at("node.yaml", 0, "clusterCIDRs: " + c))));
      }
    }
    ctx.facts()
        .flag("--cluster-cidr")
        .ifPresent(
            v -> {
              for (String s : v.split(",")) {
                parse(s)
                    .ifPresent(
                        c ->
                            out.putIfAbsent(
                                c.toString(),
                                new PodRange(
                                    c,
                                    ProxyFlags.evidence(ctx.files(), "--cluster-cidr")
                                        .orElseGet(
                                            () ->
                                                ctx.files()
                                                    .at(
                                                        "node.yaml",
                                                        0,
                                                        "proxyArgs: --cluster-cidr=" + v)))));
              }
            });
    for (String label : NodeNetwork.labels(ctx.node(), "nat")) {
      Table t = NodeNetwork.table(ctx.node(), label).orElseThrow();
      for (Map.Entry<String, List<Rule>> chain : t.chains().entrySet()) {
        if (!chain.getKey().startsWith("KUBE-SVC-") && !chain.getKey().equals("KUBE-SERVICES")) {
          continue;
        }
        for (Rule r : chain.getValue()) {
          Optional<Arg.Param> s = r.param("-s");
          if (r.target().equals("KUBE-MARK-MASQ") && s.isPresent() && s.get().negated()) {
            Optional<Cidr> c = parse(s.get().value().text());
            if (c.isPresent() && !out.containsKey(c.get().toString())) {
              out.put(
                  c.get().toString(), new PodRange(c.get(), NodeNetwork.ruleLine(ctx, label, r)));
            }
          }
        }
      }
    }
    // nftables mode: kube-proxy's "ip saddr != CIDR jump mark-for-masquerade" in service chains.
    for (Cidr c : NodeModel.nftMasqueradeExceptions(ctx.node())) {
      out.putIfAbsent(
          c.toString(),
          new PodRange(
              c,
              NodeModel.nftLine(
                  ctx,
                  "table ip kube-proxy: ip saddr != " + c + " jump mark-for-masquerade",
                  "ip saddr != " + c)));
    }
    NodeState.IpSet pools = ctx.node().ipsets().get(CALICO_ALL_POOLS);
    if (pools != null) {
      for (String m : pools.members()) {
        Optional<Cidr> c = parse(m);
        if (c.isPresent() && !out.containsKey(c.get().toString())) {
          Evidence e =
              ctx.files()
                  .first(
                      "ipset-save.txt",
                      l -> {
                        String[] f = l.strip().split("\\s+");
                        return f.length >= 3
                            && f[0].equals("add")
                            && f[1].equals(CALICO_ALL_POOLS)
                            && f[2].equals(m);
                      })
                  .orElse(ctx.files().at("ipset-save.txt", 0, "add " + CALICO_ALL_POOLS + " " + m));
          out.put(c.get().toString(), new PodRange(c.get(), e));
        }
      }
    }
    flannelNetworks(ctx, out);
    return List.copyOf(out.values());
  }

  /** flanneld's subnet file, as a capture saves it (cat /run/flannel/subnet.env). */
  static final String FLANNEL_SUBNET_ENV =
      dev.svcproxy.trace.bundle.BundleCapture.FLANNEL_SUBNET_ENV;

  /**
   * flannel's Network (net-conf.json), from what the node shows of it: FLANNEL_NETWORK in
   * /run/flannel/subnet.env; the masquerade rule flanneld writes with ipMasq ({@code -s NETWORK !
   * -d 224.0.0.0/4 -j MASQUERADE}, in FLANNEL-POSTRTG since v0.15, in POSTROUTING before); and its
   * forward accept ({@code -A FLANNEL-FWD -s NETWORK -j ACCEPT}), which it writes with ipMasq off.
   */
  private static void flannelNetworks(DoctorContext ctx, Map<String, PodRange> out) {
    for (Evidence e :
        ctx.files().find(FLANNEL_SUBNET_ENV, l -> l.strip().startsWith("FLANNEL_NETWORK="))) {
      String v = e.text().strip().substring("FLANNEL_NETWORK=".length());
      for (String part : v.split(",")) {
        parse(part.replace("\"", ""))
            .ifPresent(c -> out.putIfAbsent(c.toString(), new PodRange(c, e)));
      }
    }
    for (String label : NodeNetwork.labels(ctx.node(), "nat")) {
      Table t = NodeNetwork.table(ctx.node(), label).orElseThrow();
      for (Rule r : t.rules()) {
        Optional<Arg.Param> s = r.param("-s");
        Optional<Arg.Param> d = r.param("-d");
        if (isFlannel(r, "FLANNEL-POSTRTG")
            && r.target().equals("MASQUERADE")
            && s.isPresent()
            && !s.get().negated()
            && d.isPresent()
            && d.get().negated()
            && d.get().value().text().equals("224.0.0.0/4")) {
          parse(s.get().value().text())
              .ifPresent(
                  c ->
                      out.putIfAbsent(
                          c.toString(), new PodRange(c, NodeNetwork.ruleLine(ctx, label, r))));
        }
      }
    }
    for (String label : NodeNetwork.labels(ctx.node(), "filter")) {
      Table t = NodeNetwork.table(ctx.node(), label).orElseThrow();
      for (Rule r : t.rules("FLANNEL-FWD")) {
        Optional<Arg.Param> s = r.param("-s");
        if (r.target().equals("ACCEPT") && s.isPresent() && !s.get().negated()) {
          parse(s.get().value().text())
              .ifPresent(
                  c ->
                      out.putIfAbsent(
                          c.toString(), new PodRange(c, NodeNetwork.ruleLine(ctx, label, r))));
        }
      }
    }
  }

  /** A rule of flanneld's: in its chain, or (before v0.15) commented "flanneld ...". */
  private static boolean isFlannel(Rule r, String chain) {
    return r.chain().equals(chain) || r.comment().filter(c -> c.contains("flanneld")).isPresent();
  }

  private static Optional<Cidr> parse(String s) {
    try {
      String t = s.strip();
      Cidr c = Cidr.parseSloppy(t.contains("/") ? t : t + "/32");
      return c.ipv6() ? Optional.empty() : Optional.of(c);
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }

  // --- the node's own network ---

  /**
   * The subnets of the node's own interfaces: the one its default route leaves by, and those
   * holding its node IPs (node.yaml).
   */
  static List<NodeSubnet> nodeSubnets(DoctorContext ctx) {
    List<String> ifaces = new ArrayList<>();
    for (NodeState.Route r : ctx.node().routes()) {
      if ((r.table().isEmpty() || r.table().equals("main"))
          && (r.dst().equals("0.0.0.0/0") || r.dst().equals("default"))
          && r.dev() != null
          && !r.dev().isEmpty()
          && !ifaces.contains(r.dev())) {
        ifaces.add(r.dev());
      }
    }
    for (NodeState.Interface i : ctx.node().interfaces()) {
      if (i.addresses().stream().anyMatch(a -> ctx.facts().nodeIps().contains(a.ip()))
          && !ifaces.contains(i.name())) {
        ifaces.add(i.name());
      }
    }
    List<NodeSubnet> out = new ArrayList<>();
    for (String name : ifaces) {
      ctx.node()
          .iface(name)
          .ifPresent(
              i -> {
                for (NodeState.Address a : i.addresses()) {
                  if (Ip.isIpv4(a.ip()) && a.prefixLength() < 32) {
                    out.add(new NodeSubnet(NodeNetwork.subnet(a), name, a));
                  }
                }
              });
    }
    return out;
  }

  private static Evidence addressEvidence(DoctorContext ctx, String iface, NodeState.Address a) {
    String file = ctx.files().has("ip-addr.json") ? "ip-addr.json" : "ip-addr.txt";
    return ctx.files().at(file, 0, iface + ": inet " + a.ip() + "/" + a.prefixLength());
  }

  // --- pod-cidr-overlaps-node-network ---

  private Finding overlap(DoctorContext ctx, PodRange r, NodeSubnet n) {
    List<Evidence> ev = new ArrayList<>();
    ev.add(r.evidence());
    ev.add(addressEvidence(ctx, n.iface(), n.address()));
    // The calico pool's masquerade rule that skips destinations in the pools.
    for (String label : NodeNetwork.labels(ctx.node(), "nat")) {
      Table t = NodeNetwork.table(ctx.node(), label).orElseThrow();
      for (Rule rule : t.rules()) {
        if (rule.target().equals("MASQUERADE")
            && rule.options("set").stream().anyMatch(o -> o.text().startsWith(CALICO_ALL_POOLS))) {
          ev.add(NodeNetwork.ruleLine(ctx, label, rule));
        }
      }
    }
    // flannel's RETURN that keeps destinations in its network from its masquerade.
    for (String label : NodeNetwork.labels(ctx.node(), "nat")) {
      Table t = NodeNetwork.table(ctx.node(), label).orElseThrow();
      for (Rule rule : t.rules()) {
        Optional<Arg.Param> d = rule.param("-d");
        if (isFlannel(rule, "FLANNEL-POSTRTG")
            && rule.target().equals("RETURN")
            && d.isPresent()
            && !d.get().negated()
            && d.get().value().text().equals(r.cidr().toString())
            && rule.param("-s").filter(s -> !s.negated()).isPresent()) {
          ev.add(NodeNetwork.ruleLine(ctx, label, rule));
        }
      }
    }
    // What a pod of this node in the range sends to a host of the node's network: traced.
    Optional<String> pod = localPodAddress(ctx, r.cidr(), n);
    List<Evidence> unmasqueraded = new ArrayList<>();
    if (pod.isPresent()) {
      for (PacketSpec p : hostProbes(ctx, pod.get(), n)) {
        TraceResult tr = ctx.trace(p);
        for (Outcome o : tr.outcomes()) {
          if (o.delivered()
              && "forward".equals(o.delivery())
              && (o.snat() == null || o.snat().isEmpty())
              && n.cidr()
                  .contains(o.finalDestination() == null ? "" : hostOf(o.finalDestination()))) {
            unmasqueraded.add(
                Evidence.command(
                    "svcproxy trace --src " + p.src() + " --dst " + p.dst() + ":" + p.dport(),
                    "pod "
                        + p.src()
                        + " to "
                        + p.dst()
                        + ":"
                        + p.dport()
                        + (o.dnat() == null || o.dnat().isEmpty() ? "" : " (DNAT " + o.dnat() + ")")
                        + " leaves "
                        + o.outInterface()
                        + " with source "
                        + hostOf(o.finalSource())
                        + ", not masqueraded"));
            break;
          }
        }
      }
    } else {
      ctx.assume("no pod of this node found in " + r.cidr() + ": its traffic was not traced");
    }
    ev.addAll(unmasqueraded);
    Severity sev = unmasqueraded.isEmpty() ? Severity.WARNING : Severity.ERROR;
    return OVERLAPS_NODE_NETWORK.finding(
        sev,
        "The pod network "
            + r.cidr()
            + " overlaps the node network "
            + n.cidr()
            + " ("
            + n.iface()
            + ")"
            + (unmasqueraded.isEmpty()
                ? ""
                : ": pods reach hosts there without masquerade, and their replies go astray"),
        ev,
        "Masquerade decisions treat every address of the pod network as a pod: Calico's"
            + " nat-outgoing masquerades only destinations outside all IP pools, flannel's"
            + " FLANNEL-POSTRTG returns early for destinations in its network, and kube-proxy"
            + " does not mark sources inside --cluster-cidr. With the pod network covering "
            + n.cidr()
            + ", a pod's connection to a host of the node network (the API server behind"
            + " 10.96.0.1:443, a database) leaves with the pod's address; that host answers"
            + " through its default gateway, which does not route pod addresses back, and the"
            + " connection times out.",
        "Give the pods a range that overlaps no network of the nodes: change the IP pool (kubectl"
            + " edit ippool default-ipv4-ippool, or CALICO_IPV4POOL_CIDR) or the cluster CIDR"
            + " (kube-controller-manager --cluster-cidr, flannel's Network, kube-proxy"
            + " --cluster-cidr) to a range outside "
            + n.cidr()
            + ", then recreate the pods so they get addresses from it.");
  }

  /** "ip:port" or "ip" to the address alone. */
  private static String hostOf(String s) {
    if (s == null) {
      return "";
    }
    int colon = s.lastIndexOf(':');
    return colon > 0 && s.indexOf(':') == colon ? s.substring(0, colon) : s;
  }

  /**
   * An address of a pod on this node inside {@code range}: a link route of the main table (a bridge
   * subnet, or Calico's per-pod /32 on its cali veth) that is not on the node's own interface.
   */
  private static Optional<String> localPodAddress(DoctorContext ctx, Cidr range, NodeSubnet n) {
    for (NodeState.Route r : NodeNetwork.connected(ctx.node())) {
      if (r.dev() == null || r.dev().equals(n.iface())) {
        continue;
      }
      Optional<Cidr> c = parse(r.dst());
      if (c.isPresent() && NodeNetwork.covers(range, c.get())) {
        return Optional.of(NodeNetwork.probeHost(c.get()));
      }
    }
    for (NodeState.Route r : ctx.node().routes()) {
      if ((r.table().isEmpty() || r.table().equals("main"))
          && (r.gateway() == null || r.gateway().isEmpty())
          && r.dev() != null
          && !r.dev().equals(n.iface())
          && Ip.isIpv4(r.dst())
          && range.contains(r.dst())) {
        return Optional.of(r.dst());
      }
    }
    return Optional.empty();
  }

  /**
   * Packets from the pod to hosts of the node network: the Services whose endpoints sit there (the
   * API server), and the network's gateway (or its first host).
   */
  private static List<PacketSpec> hostProbes(DoctorContext ctx, String pod, NodeSubnet n) {
    List<PacketSpec> out = new ArrayList<>();
    ctx.cluster()
        .ifPresent(
            st -> {
              for (ServicePortInfo sp : st.services().values()) {
                if (out.size() >= Probes.MAX_SERVICES) {
                  break;
                }
                if (Ip.isIpv4(sp.clusterIP())
                    && st.endpointsOf(sp.name()).stream()
                        .map(Endpoint::ip)
                        .anyMatch(n.cidr()::contains)) {
                  out.add(
                      new PacketSpec(
                          pod,
                          Probes.SPORT,
                          sp.clusterIP(),
                          sp.port(),
                          sp.protocol().lower(),
                          null));
                }
              }
            });
    String host =
        ctx.node().routes().stream()
            .filter(r -> r.dst().equals("0.0.0.0/0") || r.dst().equals("default"))
            .map(NodeState.Route::gateway)
            .filter(g -> g != null && n.cidr().contains(g))
            .findFirst()
            .orElse(NodeNetwork.secondHost(n.cidr()));
    if (host.equals(n.address().ip())) {
      host = NodeNetwork.probeHost(n.cidr());
    }
    out.add(new PacketSpec(pod, Probes.SPORT, host, 443, "tcp", null));
    return out;
  }

  // --- cni-config-wrong-subnet ---

  private List<Finding> wrongSubnet(
      DoctorContext ctx, List<PodRange> ranges, List<NodeSubnet> nodeNets) {
    List<Finding> out = new ArrayList<>();
    for (NodeNetwork.Bridge b : NodeNetwork.bridges(ctx.node())) {
      // docker0 holds Docker's own containers, not pods; a node interface is not a pod bridge.
      if (b.name().equals("docker0")
          || nodeNets.stream().anyMatch(n -> n.iface().equals(b.name()))
          || ranges.stream().anyMatch(r -> NodeNetwork.covers(r.cidr(), b.subnet()))) {
        continue;
      }
      List<Evidence> ev = new ArrayList<>();
      ev.add(addressEvidence(ctx, b.name(), b.address()));
      NodeNetwork.connected(ctx.node()).stream()
          .filter(r -> b.name().equals(r.dev()))
          .findFirst()
          .ifPresent(
              r ->
                  ev.add(
                      NodeModel.route(
                          ctx.files(),
                          r.dst(),
                          r.dev(),
                          r.dst() + " dev " + r.dev() + " scope link")));
      ev.add(
          ctx.files()
              .at(
                  ctx.files().has("bridge-link.json") ? "bridge-link.json" : "ip-addr.json",
                  0,
                  "ports of " + b.name() + ": " + String.join(", ", b.ports())));
      for (PodRange r : ranges) {
        ev.add(r.evidence());
      }
      for (Cidr c : ctx.facts().podCidrs()) {
        Evidence e =
            ctx.files()
                .first("node.yaml", l -> l.strip().startsWith("podCIDRs:"))
                .orElseGet(() -> ctx.files().at("node.yaml", 0, "podCIDRs: " + c));
        if (!ev.contains(e)) {
          ev.add(e);
        }
      }
      List<String> endpoints = new ArrayList<>();
      ctx.cluster()
          .ifPresent(
              st ->
                  st.endpoints()
                      .forEach(
                          (name, eps) ->
                              eps.stream()
                                  .filter(e -> b.subnet().contains(e.ip()))
                                  .forEach(e -> endpoints.add(name + " " + e.address()))));
      endpoints.stream()
          .distinct()
          .limit(10)
          .forEach(e -> ev.add(new Evidence("cluster objects", "endpoint " + e)));
      String pods =
          ranges.stream()
              .map(r -> r.cidr().toString())
              .distinct()
              .reduce((a, c) -> a + ", " + c)
              .orElse("");
      out.add(
          WRONG_SUBNET.finding(
              "Bridge "
                  + b.name()
                  + " ("
                  + b.subnet()
                  + ") has "
                  + b.ports().size()
                  + " port(s) but lies outside the pod network "
                  + pods
                  + ": pods on it got addresses from another CNI config",
              ev,
              "kubelet's CNI plugin takes the first config in /etc/cni/net.d (sorted by name); a"
                  + " config left by another tool (podman's 87-podman-bridge.conflist with"
                  + " cni-podman0 and 10.88.0.0/16, an old bridge config) gives the pods it"
                  + " creates addresses from its own subnet on its own bridge. No other node"
                  + " routes that subnet here, so those pods cannot be reached from other nodes"
                  + " (nor as Service endpoints from there), and kube-proxy treats them as"
                  + " outside the cluster.",
              "Remove the leftover config from /etc/cni/net.d on this node (keep only the"
                  + " cluster CNI's, e.g. 10-flannel.conflist), delete the pods whose IPs lie in "
                  + b.subnet()
                  + " so they are recreated with addresses from the node's podCIDR, and delete"
                  + " the bridge (ip link del "
                  + b.name()
                  + ")."));
    }
    return out;
  }
}
