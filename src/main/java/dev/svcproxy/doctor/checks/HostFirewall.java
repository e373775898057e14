package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.Verdict;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * host-firewall-rejects-vip: traces a packet to each virtual server from a pod and, for external
 * and load-balancer IPs, from clients outside the node, and names the first rule at the INPUT hook
 * that ends one, whatever table or chain holds it (firewalld, Calico's host endpoint chains, a rule
 * written by hand): judged by hook and verdict, never by chain names.
 */
final class HostFirewall {
  /** How many distinct virtual servers are traced at most (each trace walks every real server). */
  private static final int MAX_TRACED = 16;

  /**
   * A client on the internet (RFC 5737 TEST-NET-3), arriving by the default route's interface: a
   * firewall may trust the node's own subnet and still drop everyone else.
   */
  static final String OFF_NET_CLIENT = "203.0.113.10";

  private HostFirewall() {}

  /**
   * Where a probe packet comes from.
   *
   * @param src its source address
   * @param iface the interface it arrives on ("" when the node routes the source)
   * @param who how the finding names the sender
   */
  record Probe(String src, String iface, String who) {}

  /** What a probe met at INPUT: the step that ended it and the chains that led there. */
  private record Hit(Probe probe, IpvsService service, Outcome outcome, Step at, List<Step> path) {}

  static Optional<Finding> find(DoctorContext ctx, Catalogue.Entry entry) {
    InputCoverage cov = InputCoverage.of(ctx);
    List<String> unseen = new ArrayList<>();
    for (String label : NodeNetwork.labels(ctx.node(), "filter")) {
      cov.unshownFrom(label, "INPUT").forEach(c -> unseen.add(label + " " + c));
    }
    if (!unseen.isEmpty()) {
      // A chain INPUT jumps to that the input lacks may accept the traffic before the reject.
      ctx.assume(
          "chains not shown whole ("
              + String.join(", ", unseen)
              + "): whether a host firewall in INPUT rejects VIP traffic not checked");
      return Optional.empty();
    }
    Optional<String> pod = IpvsCheck.podSource(ctx);
    if (pod.isEmpty()) {
      ctx.assume("no pod bridge or pod CIDR known: VIP traffic from pods not traced through INPUT");
    }
    List<Probe> outside = outsideProbes(ctx);
    Set<String> reachable = new LinkedHashSet<>(IpvsFacts.externalIps(ctx));
    reachable.addAll(IpvsFacts.loadBalancerIps(ctx));

    // Which senders are stopped, per virtual server, in the order found.
    Map<String, Set<String>> stopped = new LinkedHashMap<>();
    Hit first = null;
    Set<String> seen = new LinkedHashSet<>();
    for (String vip : IpvsFacts.boundOnDummy(ctx.node())) {
      for (IpvsService s : IpvsFacts.servicesOn(ctx.node(), vip)) {
        if (s.reals().isEmpty() || seen.size() >= MAX_TRACED || !seen.add(s.server().key())) {
          continue;
        }
        List<Probe> probes = new ArrayList<>();
        pod.ifPresent(ip -> probes.add(new Probe(ip, "", "pods")));
        // ClusterIPs are for pods and the node; addresses given to clients outside the cluster
        // are traced from outside as well.
        if (reachable.contains(vip)) {
          probes.addAll(outside);
        }
        for (Probe p : probes) {
          Optional<Hit> h = stoppedAtInput(ctx, p, s);
          if (h.isPresent()) {
            stopped.computeIfAbsent(s.server().key(), k -> new LinkedHashSet<>()).add(p.who());
            if (first == null) {
              first = h.get();
            }
          }
        }
      }
    }
    if (first == null) {
      return Optional.empty();
    }
    boolean rejects = first.outcome().verdict() == Verdict.REJECT;
    List<Evidence> ev = new ArrayList<>();
    ev.add(stepEvidence(ctx, first.at()));
    for (Step j : first.path()) {
      NodeNetwork.rule(ctx.node(), j)
          .ifPresent(r -> ev.add(NodeNetwork.ruleLine(ctx, j.table(), r)));
    }
    ev.add(IpvsFacts.virtualServer(ctx, first.service()));
    Probe p = first.probe();
    ev.add(
        Evidence.command(
            "svcproxy trace --src "
                + p.src()
                + (p.iface().isEmpty() ? "" : " --in-iface " + p.iface())
                + " --dst "
                + first.service().server().target(),
            "from "
                + (p.who().equals("pods") ? "a pod" : p.who())
                + ": "
                + (rejects ? "rejected" : "dropped")
                + " in "
                + where(first.at())
                + " ("
                + first.at().reasonCode()
                + ") before IPVS at LOCAL_IN"
                + (first.path().isEmpty() ? "" : ", reached by " + path(first))));
    return Optional.of(
        entry.finding(
            "A host firewall rule at INPUT ("
                + where(first.at())
                + ") "
                + (rejects ? "rejects" : "drops")
                + " "
                + victims(stopped)
                + " before IPVS sees it",
            ev,
            "In IPVS mode every ClusterIP, external and load-balancer IP is a local address (bound"
                + " on kube-ipvs0), so a packet to a Service is routed to the node itself and"
                + " walks filter INPUT; IPVS takes it only after INPUT, at LOCAL_IN. A host"
                + " firewall (firewalld, a Calico host endpoint, custom INPUT rules) written for"
                + " the node's own ports therefore rejects Service traffic that iptables mode"
                + " would have DNATed in PREROUTING and forwarded.",
            fix(ctx, first)));
  }

  /**
   * The first step at the INPUT hook that ended the probe's packet, of any table or chain but
   * kube-proxy's own (KUBE-* chains, the kube-proxy nft table), with the jumps that led to it.
   */
  private static Optional<Hit> stoppedAtInput(DoctorContext ctx, Probe p, IpvsService s) {
    TraceResult t =
        ctx.trace(
            new PacketSpec(
                p.src(),
                40000,
                s.server().address(),
                s.server().port(),
                s.server().kind().name().toLowerCase(Locale.ROOT),
                p.iface().isEmpty() ? null : p.iface()));
    for (Outcome o : t.outcomes()) {
      if (o.verdict() != Verdict.REJECT && o.verdict() != Verdict.DROP) {
        continue;
      }
      List<Step> steps = o.steps();
      for (int i = 0; i < steps.size(); i++) {
        Step st = steps.get(i);
        if (st.reasonCode() != null && "INPUT".equals(st.hook()) && !kubeOwn(st)) {
          return Optional.of(new Hit(p, s, o, st, callPath(steps, i)));
        }
      }
    }
    return Optional.empty();
  }

  /**
   * The jump (or goto) steps that led from the hook's base chain to the chain of step {@code at},
   * outermost first: from {@code at} back, the latest step that entered the current chain.
   */
  static List<Step> callPath(List<Step> steps, int at) {
    Step end = steps.get(at);
    List<Step> path = new ArrayList<>();
    String chain = end.chain();
    for (int i = at - 1; i >= 0; i--) {
      Step s = steps.get(i);
      if (s.kind() == StepKind.JUMP
          && s.hook().equals(end.hook())
          && s.table().equals(end.table())
          && (s.effect().startsWith("jump " + chain) || s.effect().startsWith("goto " + chain))
          && endsName(s.effect(), chain)) {
        path.add(0, s);
        chain = s.chain();
      }
    }
    return path;
  }

  /** Whether "jump X" / "goto X" (maybe followed by a probability) names exactly {@code chain}. */
  private static boolean endsName(String effect, String chain) {
    String rest = effect.substring(5 + chain.length());
    return rest.isEmpty() || rest.startsWith(" ");
  }

  private static String where(Step st) {
    return st.table()
        + " "
        + st.chain()
        + (st.rule() > 0
            ? (st.table().startsWith("nft ") ? " handle " : " rule ") + st.rule()
            : " policy");
  }

  private static String path(Hit h) {
    List<String> parts = new ArrayList<>();
    for (Step j : h.path()) {
      parts.add(j.chain() + " rule " + j.rule());
    }
    parts.add(h.at().chain() + (h.at().rule() > 0 ? " rule " + h.at().rule() : " policy"));
    return String.join(" -> ", parts);
  }

  /** "pod traffic to TCP a:80; traffic from outside (...) to TCP b:80", at most 3 servers each. */
  private static String victims(Map<String, Set<String>> stopped) {
    Map<String, List<String>> byWho = new LinkedHashMap<>();
    stopped.forEach(
        (key, whos) ->
            whos.forEach(w -> byWho.computeIfAbsent(w, x -> new ArrayList<>()).add(key)));
    List<String> parts = new ArrayList<>();
    byWho.forEach(
        (who, keys) ->
            parts.add(
                (who.equals("pods") ? "pod traffic" : "traffic from " + who)
                    + " to "
                    + String.join(", ", keys.subList(0, Math.min(3, keys.size())))
                    + (keys.size() > 3 ? " and " + (keys.size() - 3) + " more" : "")));
    return String.join("; ", parts);
  }

  private static String fix(DoctorContext ctx, Hit h) {
    List<Step> chain = new ArrayList<>(h.path());
    chain.add(h.at());
    boolean calico = chain.stream().anyMatch(s -> s.chain().startsWith("cali-"));
    if (calico) {
      boolean forwardCheck =
          NodeNetwork.table(ctx.node(), h.at().table())
              .map(t -> !t.rules("cali-forward-check").isEmpty())
              .orElse(false);
      return "The rule is Calico's (felix's cali-* chains: host endpoint policy). Allow the Service"
          + " addresses in a Calico policy that selects the host endpoint, before its default"
          + " deny: a GlobalNetworkPolicy with ingress action Allow to destination nets <service"
          + " CIDR> and the external and load-balancer IPs (preDNAT is not needed: IPVS does not"
          + " DNAT before INPUT). "
          + (forwardCheck
              ? ""
              : "Felix has no cali-forward-check chain here: it treats VIP traffic as traffic to"
                  + " the host because it found no kube-ipvs0 when it started (kube-proxy switched"
                  + " to IPVS later); restarting calico-node on this node turns its kube-proxy IPVS"
                  + " support on. ")
          + "Felix keeps cali-INPUT first in INPUT (ChainInsertMode insert), so an ACCEPT inserted"
          + " in INPUT by hand does not stay before it.";
    }
    String delete =
        NodeNetwork.rule(ctx.node(), h.at())
            .filter(r -> h.path().isEmpty())
            .map(r -> " or delete the rule if nothing needs it (iptables -D " + body(r) + "),")
            .orElse("");
    return "Accept Service traffic before the firewall's "
        + (h.outcome().verdict() == Verdict.REJECT ? "reject" : "drop")
        + ": iptables -I INPUT -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT (and the same"
        + " for KUBE-EXTERNAL-IP and KUBE-LOAD-BALANCER),"
        + delete
        + " or trust the pod network in the firewall (firewall-cmd --zone=trusted"
        + " --add-source=<pod CIDR>).";
  }

  /** "-A INPUT -d x -j DROP" as "INPUT -d x -j DROP", for iptables -D. */
  private static String body(Rule r) {
    String p = r.print();
    return p.startsWith("-A ") ? p.substring(3) : p;
  }

  /**
   * Senders outside the node: on the default route's interface and on each interface holding a node
   * IP, a neighbour of its subnet and (by the default route) a client on the internet.
   */
  static List<Probe> outsideProbes(DoctorContext ctx) {
    NodeState n = ctx.node();
    Set<String> local = new LinkedHashSet<>();
    n.interfaces().forEach(i -> i.addresses().forEach(a -> local.add(a.ip())));
    Set<String> ports = new LinkedHashSet<>();
    NodeNetwork.bridges(n).forEach(b -> ports.add(b.name()));
    List<Cidr> pods = NodeNetwork.podSubnets(ctx);
    Map<String, Boolean> uplinks = new LinkedHashMap<>();
    for (NodeState.Route r : n.routes()) {
      if ((r.table().isEmpty() || r.table().equals("main"))
          && (r.type().isEmpty() || r.type().equals("unicast"))
          && r.dst().equals("0.0.0.0/0")
          && r.dev() != null
          && !r.dev().isEmpty()) {
        uplinks.put(r.dev(), true);
      }
    }
    for (String ip : ctx.facts().nodeIps()) {
      for (NodeState.Interface i : n.interfaces()) {
        if (i.addresses().stream().anyMatch(a -> a.ip().equals(ip))) {
          uplinks.putIfAbsent(i.name(), false);
        }
      }
    }
    List<Probe> out = new ArrayList<>();
    for (Map.Entry<String, Boolean> u : uplinks.entrySet()) {
      String dev = u.getKey();
      if (dev.equals("lo") || dev.equals(IpvsFacts.DUMMY) || ports.contains(dev)) {
        continue;
      }
      Optional<NodeState.Interface> i = n.iface(dev);
      if (i.isEmpty()) {
        continue;
      }
      for (NodeState.Address a : i.get().addresses()) {
        if (!Ip.isIpv4(a.ip()) || a.prefixLength() >= 31) {
          continue;
        }
        Cidr subnet = NodeNetwork.subnet(a);
        if (pods.stream().anyMatch(c -> NodeNetwork.overlaps(c, subnet))) {
          continue;
        }
        String nb = NodeNetwork.probeHost(subnet);
        if (local.contains(nb)) {
          nb = NodeNetwork.secondHost(subnet);
        }
        if (!local.contains(nb)) {
          out.add(new Probe(nb, dev, nb + " on " + dev));
        }
        break;
      }
      if (u.getValue()) {
        out.add(new Probe(OFF_NET_CLIENT, dev, OFF_NET_CLIENT + " on " + dev));
      }
    }
    return out;
  }

  /** Whether a trace step is kube-proxy's (or kubelet's) own rule, not a host firewall's. */
  private static boolean kubeOwn(Step st) {
    if (st.table().startsWith("nft ")) {
      String[] t = st.table().split(" ");
      return t.length >= 3 && t[2].equals("kube-proxy");
    }
    return st.chain().startsWith("KUBE-");
  }

  /** A rule step as evidence: its line in the bundle, or the rule as the tracer shows it. */
  private static Evidence stepEvidence(DoctorContext ctx, Step st) {
    if (st.table().startsWith("nft ")) {
      // "handle 8: reject with icmpx admin-prohibited": the rule's line in the listing, the
      // first one after the chain's header that says the same.
      String rule = st.text().replaceFirst("^handle \\d+: ", "").strip();
      String where = st.table().substring(4) + " " + st.chain();
      if (ctx.files().has("nft-ruleset.txt")) {
        Optional<String> text = ctx.files().text("nft-ruleset.txt");
        String[] lines = text.orElse("").split("\n", -1);
        boolean in = false;
        for (int i = 0; i < lines.length; i++) {
          String l = lines[i].strip().replaceFirst("\\s*# handle \\d+$", "");
          if (l.startsWith("chain ")) {
            in = l.startsWith("chain " + st.chain() + " ");
          } else if (in && (l.equals(rule) || l.replace("type ", "").equals(rule))) {
            return ctx.files().at("nft-ruleset.txt", i + 1, where + ": " + lines[i].strip());
          }
        }
        return ctx.files().at("nft-ruleset.txt", 0, where + ": " + rule);
      }
      return ctx.files().at("nft-ruleset.json", 0, where + ": " + rule);
    }
    Optional<Rule> r = NodeNetwork.rule(ctx.node(), st);
    if (r.isPresent()) {
      return NodeNetwork.ruleLine(ctx, st.table(), r.get());
    }
    return NodeNetwork.policyLine(ctx, st.table(), st.chain(), "DROP");
  }
}
