package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.ipvs.VirtualServer;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.NodeState;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What the IPVS checks read from the node model: which proxy mode the node runs, the addresses
 * bound on kube-ipvs0, the ClusterIPs and load-balancer IPs kube-proxy knows, and where each rule,
 * address and virtual server is cited from.
 */
final class IpvsFacts {
  static final String DUMMY = "kube-ipvs0";

  private IpvsFacts() {}

  /**
   * True when the node runs kube-proxy's IPVS mode: node.yaml says so, or (mode unknown) the node
   * has kube-ipvs0, an IPVS-mode ipset or a virtual server.
   */
  static boolean ipvsMode(DoctorContext ctx) {
    Optional<String> mode = ctx.facts().proxyMode();
    if (mode.isPresent()) {
      return mode.get().equals("ipvs");
    }
    NodeState n = ctx.node();
    return n.iface(DUMMY).isPresent()
        || n.ipsets().containsKey("KUBE-CLUSTER-IP")
        || !n.ipvs().services().isEmpty();
  }

  /** The IPv4 addresses bound on kube-ipvs0, in the order `ip addr` lists them. */
  static List<String> boundOnDummy(NodeState n) {
    return n.iface(DUMMY)
        .map(i -> i.addresses().stream().map(NodeState.Address::ip).toList())
        .orElse(List.of());
  }

  /** The addresses of every interface but kube-ipvs0 (the node's own). */
  static Set<String> nodeAddresses(DoctorContext ctx) {
    Set<String> out = new LinkedHashSet<>(ctx.facts().nodeIps());
    for (NodeState.Interface i : ctx.node().interfaces()) {
      if (!i.name().equals(DUMMY) && !i.name().equals("lo")) {
        i.addresses().forEach(a -> out.add(a.ip()));
      }
    }
    return out;
  }

  /** The interfaces other than kube-ipvs0 that hold {@code ip}. */
  static List<String> otherHolders(NodeState n, String ip) {
    return n.interfaces().stream()
        .filter(i -> !i.name().equals(DUMMY))
        .filter(i -> i.addresses().stream().anyMatch(a -> a.ip().equals(ip)))
        .map(NodeState.Interface::name)
        .toList();
  }

  /** The IP part of every member of ipset {@code set} ("10.96.0.1,tcp:443" gives 10.96.0.1). */
  static Set<String> setIps(NodeState n, String set) {
    Set<String> out = new LinkedHashSet<>();
    NodeState.IpSet s = n.ipsets().get(set);
    if (s != null) {
      for (String m : s.members()) {
        out.add(m.split(",", 2)[0]);
      }
    }
    return out;
  }

  /** Every load-balancer IP the inputs name: KUBE-LOAD-BALANCER members and Services' status. */
  static Set<String> loadBalancerIps(DoctorContext ctx) {
    Set<String> out = setIps(ctx.node(), "KUBE-LOAD-BALANCER");
    ctx.cluster()
        .ifPresent(s -> s.services().values().forEach(i -> out.addAll(i.loadBalancerVIPs())));
    return out;
  }

  /** Every external IP the inputs name: KUBE-EXTERNAL-IP members and Services' externalIPs. */
  static Set<String> externalIps(DoctorContext ctx) {
    Set<String> out = setIps(ctx.node(), "KUBE-EXTERNAL-IP");
    ctx.cluster().ifPresent(s -> s.services().values().forEach(i -> out.addAll(i.externalIPs())));
    return out;
  }

  /** The TCP/UDP virtual servers on {@code address}, in table order. */
  static List<IpvsService> servicesOn(NodeState n, String address) {
    return n.ipvs().services().stream()
        .filter(s -> s.server().kind() != VirtualServer.Kind.FWMARK)
        .filter(s -> s.server().address().equals(address))
        .toList();
  }

  /** The "ip addr" evidence that {@code ip} is bound on {@code dev}. */
  static Evidence address(DoctorContext ctx, String dev, String ip) {
    NodeState.Address a =
        ctx.node()
            .iface(dev)
            .flatMap(i -> i.addresses().stream().filter(x -> x.ip().equals(ip)).findFirst())
            .orElse(new NodeState.Address(ip, 32, "global", false));
    String text = dev + ": inet " + ip + "/" + a.prefixLength();
    if (ctx.files().has("ip-addr.txt")) {
      Optional<Evidence> line =
          ctx.files().first("ip-addr.txt", l -> l.strip().startsWith("inet " + ip + "/"));
      if (line.isPresent()) {
        return line.get();
      }
    }
    return ctx.files().at("ip-addr.json", 0, text);
  }

  /** The local route that makes {@code ip} the node's own, with its preferred source. */
  static Optional<Evidence> localRoute(DoctorContext ctx, String ip) {
    return ctx.node().routes().stream()
        .filter(r -> "local".equals(r.type()) && (r.dst().equals(ip) || r.dst().equals(ip + "/32")))
        .findFirst()
        .map(
            r -> {
              String text =
                  "local "
                      + ip
                      + " dev "
                      + r.dev()
                      + " table "
                      + r.table()
                      + (r.prefsrc() == null || r.prefsrc().isEmpty() ? "" : " src " + r.prefsrc());
              String file = ctx.files().has("ip-route.txt") ? "ip-route.txt" : "ip-route.json";
              if (file.equals("ip-route.txt")) {
                Optional<Evidence> line =
                    ctx.files().first(file, l -> l.strip().startsWith("local " + ip + " "));
                if (line.isPresent()) {
                  return line.get();
                }
              }
              return ctx.files().at(file, 0, text);
            });
  }

  /** The line of ipvsadm-save.txt that adds virtual server {@code s}. */
  static Evidence virtualServer(DoctorContext ctx, IpvsService s) {
    VirtualServer v = s.server();
    String head = "-A " + v.kind().option() + " " + v.target();
    return ctx.files()
        .first(
            "ipvsadm-save.txt",
            l -> {
              String t = l.strip();
              return t.equals(head) || t.startsWith(head + " ");
            })
        .orElse(ctx.files().at("ipvsadm-save.txt", 0, head + " -s " + v.scheduler()));
  }

  /** The line of ipset-save.txt that adds {@code member} to {@code set}, if any. */
  static Optional<Evidence> setMember(DoctorContext ctx, String set, String ip) {
    return ctx.files()
        .first(
            "ipset-save.txt",
            l -> {
              String[] w = l.strip().split("\\s+");
              return w.length >= 3
                  && w[0].equals("add")
                  && w[1].equals(set)
                  && w[2].split(",", 2)[0].equals(ip);
            });
  }

  /** The nat tables of the node, both backends. */
  static List<Table> natTables(NodeState n) {
    List<Table> out = new ArrayList<>();
    for (Ruleset r : n.iptables()) {
      r.table("nat").ifPresent(out::add);
    }
    return out;
  }

  /** The set a rule matches and its direction flags ("dst,dst"), if it has a set match. */
  record SetMatch(String set, String flags, boolean negated) {}

  static Optional<SetMatch> setMatch(Rule r) {
    for (Arg a : r.args()) {
      if (a instanceof Arg.Option o && o.flag().equals("--match-set") && o.values().size() >= 2) {
        return Optional.of(
            new SetMatch(o.values().get(0).text(), o.values().get(1).text(), o.negated()));
      }
    }
    return Optional.empty();
  }

  /** The line of the bundle's iptables files that holds rule {@code r} (counters ignored). */
  static Evidence rule(DoctorContext ctx, Rule r) {
    String want = r.print();
    for (String f : List.of("iptables-save.txt", "iptables-legacy-save.txt")) {
      Optional<Evidence> e = ctx.files().first(f, l -> withoutCounters(l).equals(want));
      if (e.isPresent()) {
        return e.get();
      }
    }
    return ctx.files().at("iptables-save.txt", 0, want);
  }

  private static String withoutCounters(String line) {
    String t = line.strip();
    if (t.startsWith("[")) {
      int end = t.indexOf(']');
      if (end > 0) {
        t = t.substring(end + 1).strip();
      }
    }
    return t;
  }
}
