package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.Severity;
import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.ipvs.RealServer;
import dev.svcproxy.ipvs.VirtualServer;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.NodeState;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * hairpin-not-masqueraded in kube-proxy's IPVS mode: a pod that reaches a ClusterIP and is picked
 * as its own real server is masqueraded only by {@code KUBE-POSTROUTING -m set --match-set
 * KUBE-LOOP-BACK dst,dst,src -j MASQUERADE}, whose set holds {@code IP,proto:port,IP} for every
 * local endpoint (kubernetes/kubernetes pkg/proxy/ipvs/proxier.go, syncProxyRules: "Handle traffic
 * that loops back to the originator with SNAT"). Without the entry or the rule the pod receives its
 * own address as source.
 */
final class IpvsLoopBack {
  static final String SET = "KUBE-LOOP-BACK";

  private IpvsLoopBack() {}

  /** A local pod endpoint behind a ClusterIP virtual server, as IPVS holds it. */
  private record Local(IpvsService service, RealServer real, String proto) {
    String member() {
      return real.address() + "," + proto + ":" + real.port() + "," + real.address();
    }
  }

  static List<Finding> findings(DoctorContext ctx) {
    if (!IpvsFacts.ipvsMode(ctx)) {
      return List.of();
    }
    NodeState node = ctx.node();
    List<Local> locals = locals(ctx);
    if (locals.isEmpty()) {
      return List.of();
    }
    NodeState.IpSet set = node.ipsets().get(SET);
    if (set == null) {
      // No set at all is ipset-missing's to name (IpvsCheck), which knows when the listing is
      // whole.
      return List.of();
    }
    InputCoverage cov = InputCoverage.of(ctx);
    List<Table> nats = IpvsFacts.natTables(node);
    List<Local> unmarked =
        locals.stream().filter(l -> !markedAnyway(nats, l.real().address())).toList();
    if (unmarked.isEmpty()) {
      return List.of();
    }
    Optional<Rule> masq = loopBackMasquerade(nats);
    boolean natWhole =
        nats.stream().anyMatch(t -> cov.chain(cov.fileOf(t), "nat", "KUBE-POSTROUTING"));
    boolean noRule = masq.isEmpty() && natWhole;
    if (masq.isEmpty() && !natWhole) {
      ctx.assume(
          "KUBE-POSTROUTING is not shown whole: its "
              + SET
              + " masquerade rule (hairpin in IPVS mode) not checked");
    }
    Map<String, Local> missing = new LinkedHashMap<>();
    if (cov.whole("ipset-save.txt", SET + "'s hairpin entries for the local endpoints")) {
      Set<String> members =
          set.members().stream().map(m -> m.toLowerCase(Locale.ROOT)).collect(Collectors.toSet());
      for (Local l : unmarked) {
        if (!members.contains(l.member())) {
          missing.putIfAbsent(l.member(), l);
        }
      }
    }
    if (!noRule && missing.isEmpty()) {
      return List.of();
    }
    return List.of(finding(ctx, unmarked, missing, masq, noRule));
  }

  /**
   * Real servers of ClusterIP virtual servers (addresses on kube-ipvs0 that no load-balancer or
   * external IP claims) that are pods behind a local pod device of this node.
   */
  private static List<Local> locals(DoctorContext ctx) {
    NodeState node = ctx.node();
    Set<String> bound = Set.copyOf(IpvsFacts.boundOnDummy(node));
    Set<String> lb = IpvsFacts.loadBalancerIps(ctx);
    Set<String> ext = IpvsFacts.externalIps(ctx);
    List<Local> out = new ArrayList<>();
    for (IpvsService s : node.ipvs().services()) {
      VirtualServer v = s.server();
      if (v.kind() == VirtualServer.Kind.FWMARK
          || !bound.contains(v.address())
          || lb.contains(v.address())
          || ext.contains(v.address())) {
        continue;
      }
      String proto = v.kind() == VirtualServer.Kind.UDP ? "udp" : "tcp";
      for (RealServer r : s.reals()) {
        if (ProxyRules.isNodeAddress(node, r.address())
            || ProxyRules.localPodDevice(node, r.address()).isEmpty()) {
          continue;
        }
        out.add(new Local(s, r, proto));
      }
    }
    return out;
  }

  /**
   * Whether KUBE-SERVICES marks the pod's own traffic to a ClusterIP for masquerade anyway (kube-
   * proxy --masquerade-all, or a --cluster-cidr that leaves the pod out): then KUBE-POSTROUTING's
   * mark rule masquerades the hairpin and the set is not needed.
   */
  private static boolean markedAnyway(List<Table> nats, String podIp) {
    for (Table t : nats) {
      for (Rule r : t.rules("KUBE-SERVICES")) {
        Optional<IpvsFacts.SetMatch> m = IpvsFacts.setMatch(r);
        if (m.isEmpty()
            || m.get().negated()
            || !m.get().set().equals("KUBE-CLUSTER-IP")
            || !r.target().equals("KUBE-MARK-MASQ")) {
          continue;
        }
        Optional<Arg.Param> s = r.param("-s");
        if (s.isEmpty()) {
          return true;
        }
        String src = s.get().value().text();
        Cidr c;
        try {
          c = Cidr.parseSloppy(src.contains("/") ? src : src + "/32");
        } catch (IllegalArgumentException e) {
          continue;
        }
        if (c.contains(podIp) != s.get().negated()) {
          return true;
        }
      }
    }
    return false;
  }

  /** KUBE-POSTROUTING's (or POSTROUTING's) MASQUERADE for members of the set, dst,dst,src. */
  private static Optional<Rule> loopBackMasquerade(List<Table> nats) {
    for (Table t : nats) {
      for (String chain : List.of("KUBE-POSTROUTING", "POSTROUTING")) {
        for (Rule r : t.rules(chain)) {
          Optional<IpvsFacts.SetMatch> m = IpvsFacts.setMatch(r);
          if (m.isPresent()
              && !m.get().negated()
              && m.get().set().equals(SET)
              && m.get().flags().equals("dst,dst,src")
              && r.target().equals("MASQUERADE")) {
            return Optional.of(r);
          }
        }
      }
    }
    return Optional.empty();
  }

  private static String realServerLine(VirtualServer v, RealServer r) {
    return "-a " + v.kind().option() + " " + v.target() + " -r " + r.target();
  }

  private static Evidence realServer(DoctorContext ctx, Local l) {
    String head = realServerLine(l.service().server(), l.real());
    return ctx.files()
        .first(
            "ipvsadm-save.txt",
            line -> {
              String t = line.strip();
              return t.equals(head) || t.startsWith(head + " ");
            })
        .orElse(ctx.files().at("ipvsadm-save.txt", 0, head));
  }

  private static String pods(Map<String, Local> byMember) {
    return String.join(
        ", ",
        byMember.values().stream()
            .map(l -> l.real().target() + " behind " + l.service().server().target())
            .distinct()
            .toList());
  }

  private static Finding finding(
      DoctorContext ctx,
      List<Local> unmarked,
      Map<String, Local> missing,
      Optional<Rule> masq,
      boolean noRule) {
    Map<String, Local> shown = new LinkedHashMap<>(missing);
    if (noRule) {
      unmarked.forEach(l -> shown.putIfAbsent(l.member(), l));
    }
    List<Evidence> ev = new ArrayList<>();
    shown.values().forEach(l -> ev.add(realServer(ctx, l)));
    if (!missing.isEmpty()) {
      ev.add(
          ctx.files()
              .first("ipset-save.txt", l -> l.strip().startsWith("create " + SET + " "))
              .orElse(ctx.files().at("ipset-save.txt", 0, "create " + SET)));
    }
    masq.ifPresent(r -> ev.add(IpvsFacts.rule(ctx, r)));
    String rule = "-m set --match-set " + SET + " dst,dst,src -j MASQUERADE";
    String summary =
        missing.isEmpty()
            ? "No rule masquerades " + SET + " in KUBE-POSTROUTING"
            : missing.size() + " local endpoint(s) of a ClusterIP missing from " + SET;
    if (!missing.isEmpty() && noRule) {
      summary += ", and no rule masquerades it";
    }
    List<String> fixes = new ArrayList<>();
    if (!missing.isEmpty()) {
      missing.keySet().forEach(m -> fixes.add("`ipset add " + SET + " " + m + "`"));
    }
    if (noRule) {
      fixes.add("`iptables -t nat -I KUBE-POSTROUTING " + rule + "`");
    }
    return ProxyRulesCheck.HAIRPIN.finding(
        Severity.ERROR,
        summary + ": a pod that reaches its own Service through IPVS is not masqueraded",
        ev,
        "IPVS may send a pod's connection to its own ClusterIP back to that pod ("
            + pods(shown)
            + "). kube-proxy masquerades that hairpin only by `"
            + rule
            + "` in KUBE-POSTROUTING, for packets whose destination address and port and source"
            + " address are a member of the set, "
            + (missing.isEmpty()
                ? "and the nat table has no such rule."
                : "and these endpoints are not members"
                    + (noRule ? " (nor is there such a rule)." : "."))
            + " The pod receives its own connection from its own address and the connection to"
            + " the ClusterIP never completes.",
        "Let kube-proxy resync (it adds `IP,proto:port,IP` to "
            + SET
            + " for every endpoint whose nodeName is this node's name, so check --hostname-override"
            + " if it does not; restart it); now: "
            + String.join(", ", fixes)
            + ".");
  }
}
