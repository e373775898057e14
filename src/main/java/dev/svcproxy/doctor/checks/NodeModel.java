package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.BundleFiles;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.NodeState;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What the kernel checks read from the node model: kube-proxy's Service and endpoint rules (from
 * the parsed iptables rulesets, not from text), route lookups, and the pods' bridges.
 */
final class NodeModel {
  private NodeModel() {}

  /** A Service port's rule in KUBE-SERVICES: its VIP, protocol, port and the chain it jumps to. */
  record ServiceRule(String vip, String proto, int port, String chain, Rule rule) {}

  /** An endpoint of a KUBE-SEP chain: the DNAT target and the rule that writes it. */
  record EndpointRule(String chain, String ip, int port, String proto, Rule rule) {}

  /** The rules of every table {@code name} of every backend the node has. */
  static List<Rule> rules(NodeState node, String table) {
    List<Rule> out = new ArrayList<>();
    for (Ruleset rs : node.iptables()) {
      rs.table(table).map(Table::rules).ifPresent(out::addAll);
    }
    return out;
  }

  /** Every `-A KUBE-SERVICES -d VIP/32 ... --dport P -j KUBE-SVC-…` (or SVL/EXT/FW) rule. */
  static List<ServiceRule> serviceRules(NodeState node) {
    List<ServiceRule> out = new ArrayList<>();
    for (Rule r : rules(node, "nat")) {
      if (!r.chain().equals("KUBE-SERVICES") || !r.target().startsWith("KUBE-")) {
        continue;
      }
      Optional<Arg.Param> d = r.param("-d");
      Optional<Arg.Param> p = r.param("-p");
      Optional<Arg.Option> dport = r.option("--dport");
      if (d.isEmpty() || d.get().negated() || p.isEmpty() || dport.isEmpty()) {
        continue;
      }
      String vip = host(d.get().value().text());
      if (vip == null || !dport.get().text().matches("\\d{1,5}")) {
        continue;
      }
      out.add(
          new ServiceRule(
              vip, p.get().value().text(), Integer.parseInt(dport.get().text()), r.target(), r));
    }
    return out;
  }

  /** Every DNAT of a KUBE-SEP chain. */
  static List<EndpointRule> endpointRules(NodeState node) {
    List<EndpointRule> out = new ArrayList<>();
    for (Rule r : rules(node, "nat")) {
      if (!r.chain().startsWith("KUBE-SEP-") || !r.target().equals("DNAT")) {
        continue;
      }
      Optional<Arg.Option> to = r.option("--to-destination");
      if (to.isEmpty()) {
        continue;
      }
      String t = to.get().text();
      int colon = t.lastIndexOf(':');
      String ip = colon > 0 ? t.substring(0, colon) : t;
      if (!Ip.isIpv4(ip)) {
        continue;
      }
      int port =
          colon > 0 && t.substring(colon + 1).matches("\\d{1,5}")
              ? Integer.parseInt(t.substring(colon + 1))
              : 0;
      String proto = r.param("-p").map(x -> x.value().text()).orElse("");
      out.add(new EndpointRule(r.chain(), ip, port, proto, r));
    }
    return out;
  }

  /** The endpoints a Service chain reaches, through KUBE-SVC/SVL chains to KUBE-SEP chains. */
  static List<EndpointRule> endpointsOf(NodeState node, String svcChain) {
    List<Rule> nat = rules(node, "nat");
    Set<String> seps = new LinkedHashSet<>();
    Set<String> seen = new LinkedHashSet<>();
    List<String> todo = new ArrayList<>(List.of(svcChain));
    while (!todo.isEmpty()) {
      String c = todo.remove(0);
      if (!seen.add(c)) {
        continue;
      }
      for (Rule r : nat) {
        if (!r.chain().equals(c)) {
          continue;
        }
        String t = r.target();
        if (t.startsWith("KUBE-SEP-")) {
          seps.add(t);
        } else if (t.startsWith("KUBE-SVC-") || t.startsWith("KUBE-SVL-")) {
          todo.add(t);
        }
      }
    }
    return endpointRules(node).stream().filter(e -> seps.contains(e.chain())).toList();
  }

  /**
   * The pod range kube-proxy was given (--cluster-cidr), as its rules show it: the negated source
   * of the Service chains' masquerade rules ({@code ! -s 10.244.0.0/16 ... -j KUBE-MARK-MASQ}).
   */
  static List<Cidr> masqueradeExceptions(NodeState node) {
    Set<Cidr> out = new LinkedHashSet<>();
    for (Rule r : rules(node, "nat")) {
      if (!r.chain().startsWith("KUBE-SVC-") || !r.target().equals("KUBE-MARK-MASQ")) {
        continue;
      }
      Optional<Arg.Param> s = r.param("-s");
      if (s.isPresent() && s.get().negated()) {
        try {
          out.add(Cidr.parseSloppy(s.get().value().text()));
        } catch (IllegalArgumentException e) {
          // Not a prefix kube-proxy writes; nothing to learn from it.
        }
      }
    }
    return List.copyOf(out);
  }

  /** "10.96.0.10/32" or "10.96.0.10" → "10.96.0.10"; null for a wider prefix. */
  static String host(String s) {
    String t = s.endsWith("/32") ? s.substring(0, s.length() - 3) : s;
    return Ip.isIpv4(t) ? t : null;
  }

  /** The rule's line in the iptables-save file it came from (either backend). */
  static Evidence cite(BundleFiles files, Rule r) {
    String text = r.print();
    // iptables prints some options with two blanks ("--nfacct-name  NAME"): compare the rule's
    // elements, not its spacing.
    String canon = squeeze(text);
    for (String f : List.of("iptables-save.txt", "iptables-legacy-save.txt")) {
      Optional<Evidence> e =
          files.first(
              f,
              l -> {
                String s = squeeze(l);
                return s.equals(canon) || (s.startsWith("[") && s.endsWith("] " + canon));
              });
      if (e.isPresent()) {
        return e.get();
      }
    }
    return files.at("iptables-save.txt", 0, text);
  }

  private static String squeeze(String s) {
    return s.strip().replaceAll("\\s+", " ");
  }

  /** The bundle's route file (JSON as captured, or `ip route` text written by hand). */
  static String routeFile(BundleFiles files) {
    return !files.has("ip-route.json") && files.has("ip-route.txt")
        ? "ip-route.txt"
        : "ip-route.json";
  }

  /** The bundle's address file. */
  static String addrFile(BundleFiles files) {
    return !files.has("ip-addr.json") && files.has("ip-addr.txt") ? "ip-addr.txt" : "ip-addr.json";
  }

  /** The sysctl's line (or the command that shows it), or the value as the model holds it. */
  static Evidence sysctl(BundleFiles files, String key, String value) {
    return files
        .sysctl(key)
        .orElse(
            files.isLive()
                ? Evidence.command("sysctl " + key, key + " = " + value)
                : Evidence.at("sysctl.txt", 0, key + " = " + value));
  }

  /** The result of a route lookup: the route used, or why there is none. */
  record Lookup(NodeState.Route route, String table, boolean usable) {
    static final Lookup NONE = new Lookup(null, "", false);

    boolean viaDefault() {
      return route != null && route.dst().equals("0.0.0.0/0");
    }
  }

  /**
   * The route the node uses for {@code ip} as a plain destination (no source, mark or incoming
   * interface): the ip rules without selectors in priority order (local, main, default when there
   * are none), longest prefix first within a table; an unreachable, blackhole or prohibit route
   * ends the lookup without a usable route.
   */
  static Lookup lookup(NodeState node, String ip) {
    List<String> tables = new ArrayList<>();
    if (node.rules().isEmpty()) {
      tables.addAll(List.of("local", "main", "default"));
    } else {
      node.rules().stream()
          .sorted(java.util.Comparator.comparingInt(NodeState.RoutingRule::priority))
          .filter(
              r ->
                  !r.not()
                      && !r.table().isEmpty()
                      && isAny(r.from())
                      && isAny(r.to())
                      && r.iif().isEmpty()
                      && r.oif().isEmpty()
                      && r.fwmark() == null
                      && (r.action() == null
                          || r.action().isEmpty()
                          || r.action().equals("to_tbl")))
          .forEach(r -> tables.add(r.table()));
    }
    for (String t : tables) {
      NodeState.Route best = null;
      int bestLen = -1;
      for (NodeState.Route r : node.routes()) {
        if (!r.table().equals(t)) {
          continue;
        }
        Cidr c;
        try {
          c = Cidr.parse(r.dst().equals("default") ? "0.0.0.0/0" : r.dst());
        } catch (IllegalArgumentException e) {
          continue;
        }
        if (c.ipv6() || !c.contains(ip)) {
          continue;
        }
        if (c.prefixLength() > bestLen) {
          best = r;
          bestLen = c.prefixLength();
        }
      }
      if (best != null) {
        boolean usable = Set.of("unicast", "local", "broadcast").contains(best.type());
        return new Lookup(best, t, usable);
      }
    }
    return Lookup.NONE;
  }

  private static boolean isAny(String s) {
    return s == null || s.isEmpty() || s.equals("all") || s.equals("0.0.0.0/0");
  }

  /** A route as `ip route` prints it. */
  static String describe(NodeState.Route r) {
    StringBuilder b = new StringBuilder();
    if (!r.type().equals("unicast")) {
      b.append(r.type()).append(' ');
    }
    b.append(r.dst().equals("0.0.0.0/0") ? "default" : r.dst());
    if (!r.gateway().isEmpty()) {
      b.append(" via ").append(r.gateway());
    }
    if (!r.dev().isEmpty()) {
      b.append(" dev ").append(r.dev());
    }
    if (!r.table().equals("main")) {
      b.append(" table ").append(r.table());
    }
    return b.toString();
  }

  /** A bridge with ports (pods' veths) and the subnets of its addresses. */
  record Bridge(String name, List<String> ports, List<Cidr> subnets, String address) {}

  /** The node's bridges that have ports, with their connected subnets. */
  static List<Bridge> bridges(NodeState node) {
    List<Bridge> out = new ArrayList<>();
    for (NodeState.Interface i : node.interfaces()) {
      List<String> ports =
          node.interfaces().stream()
              .filter(p -> p.master().equals(i.name()))
              .map(NodeState.Interface::name)
              .toList();
      if (ports.isEmpty()) {
        continue;
      }
      List<Cidr> subnets = new ArrayList<>();
      String addr = "";
      for (NodeState.Address a : i.addresses()) {
        if (Ip.isIpv4(a.ip())) {
          subnets.add(Cidr.parse(a.ip() + "/" + a.prefixLength()).masked());
          if (addr.isEmpty()) {
            addr = a.ip() + "/" + a.prefixLength();
          }
        }
      }
      out.add(new Bridge(i.name(), ports, subnets, addr));
    }
    return out;
  }

  /** The value of a sysctl the node reports, trimmed; null when unknown. */
  static String value(Map<String, String> sysctls, String key) {
    String v = sysctls.get(key);
    return v == null ? null : v.strip();
  }

  /** Whether two prefixes share an address. */
  static boolean overlap(Cidr a, Cidr b) {
    if (a.ipv6() != b.ipv6()) {
      return false;
    }
    return a.contains(b.masked().address()) || b.contains(a.masked().address());
  }
}
