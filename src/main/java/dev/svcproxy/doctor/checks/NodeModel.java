package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.BundleFiles;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.ipvs.RealServer;
import dev.svcproxy.ipvs.VirtualServer;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.nftables.ruleset.Expr;
import dev.svcproxy.nftables.ruleset.NftPrinter;
import dev.svcproxy.nftables.ruleset.Stmt;
import dev.svcproxy.trace.NodeState;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
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
   * An endpoint the proxy sends a Service's traffic to, whatever its mode: a KUBE-SEP chain's DNAT
   * (iptables), a real server of a virtual server (IPVS), an endpoint chain's dnat (nftables);
   * {@code where} names it ("KUBE-SEP-…", "IPVS TCP 10.96.0.1:443", "nft endpoint-…").
   */
  record ProxyEndpoint(String where, String ip, int port, String proto, Evidence evidence) {}

  /** A Service address the proxy serves (ClusterIP, external or LB IP) and what shows it. */
  record ProxyVip(String vip, String proto, int port, Evidence evidence) {}

  private static final String NFT_TABLE = "kube-proxy";

  /** Every endpoint of every mode the node's state shows. */
  static List<ProxyEndpoint> endpoints(DoctorContext ctx) {
    NodeState node = ctx.node();
    List<ProxyEndpoint> out = new ArrayList<>();
    for (EndpointRule e : endpointRules(node)) {
      out.add(
          new ProxyEndpoint(e.chain(), e.ip(), e.port(), e.proto(), cite(ctx.files(), e.rule())));
    }
    for (IpvsService s : node.ipvs().services()) {
      VirtualServer v = s.server();
      String proto =
          v.kind() == VirtualServer.Kind.FWMARK ? "" : v.kind().name().toLowerCase(Locale.ROOT);
      for (RealServer rs : s.reals()) {
        if (!Ip.isIpv4(rs.address())) {
          continue;
        }
        out.add(
            new ProxyEndpoint(
                "IPVS " + v.key(), rs.address(), rs.port(), proto, realServer(ctx, v, rs)));
      }
    }
    for (dev.svcproxy.nftables.ruleset.Ruleset.Table t : kubeProxyTables(node)) {
      for (dev.svcproxy.nftables.ruleset.Ruleset.Chain c : t.chains()) {
        if (!c.name().startsWith("endpoint-")) {
          continue;
        }
        for (dev.svcproxy.nftables.ruleset.Ruleset.Rule r : c.rules()) {
          for (Stmt st : r.statements()) {
            if (!(st instanceof Stmt.Nat n) || !n.kind().equals("dnat") || n.addr() == null) {
              continue;
            }
            String ip = NftPrinter.expr(n.addr());
            if (!Ip.isIpv4(ip)) {
              continue;
            }
            int port = 0;
            if (n.port() != null && NftPrinter.expr(n.port()).matches("\\d{1,5}")) {
              port = Integer.parseInt(NftPrinter.expr(n.port()));
            }
            out.add(
                new ProxyEndpoint(
                    "nft " + c.name(), ip, port, nftProto(c.name()), nftDnat(ctx, t, c, ip, port)));
          }
        }
      }
    }
    return out;
  }

  /** Every Service address of every mode: KUBE-SERVICES rules, IPVS virtual servers, nft maps. */
  static List<ProxyVip> vips(DoctorContext ctx) {
    NodeState node = ctx.node();
    List<ProxyVip> out = new ArrayList<>();
    for (ServiceRule s : serviceRules(node)) {
      out.add(new ProxyVip(s.vip(), s.proto(), s.port(), cite(ctx.files(), s.rule())));
    }
    Set<String> nodeOwn = new LinkedHashSet<>(ctx.facts().nodeIps());
    for (NodeState.Interface i : node.interfaces()) {
      if (!i.name().equals(IpvsFacts.DUMMY)) {
        i.addresses().forEach(a -> nodeOwn.add(a.ip()));
      }
    }
    for (IpvsService s : node.ipvs().services()) {
      VirtualServer v = s.server();
      // NodePorts' virtual servers sit on the node's own addresses: those are no Service VIPs.
      if (v.kind() == VirtualServer.Kind.FWMARK
          || !Ip.isIpv4(v.address())
          || nodeOwn.contains(v.address())) {
        continue;
      }
      out.add(
          new ProxyVip(
              v.address(),
              v.kind().name().toLowerCase(Locale.ROOT),
              v.port(),
              IpvsFacts.virtualServer(ctx, s)));
    }
    for (dev.svcproxy.nftables.ruleset.Ruleset.Table t : kubeProxyTables(node)) {
      for (String map : List.of("service-ips", "no-endpoint-services")) {
        Optional<dev.svcproxy.nftables.ruleset.Ruleset.NamedSet> m = t.set(map);
        if (m.isEmpty()) {
          continue;
        }
        for (dev.svcproxy.nftables.ruleset.Ruleset.Element el : m.get().elements()) {
          String[] k = NftPrinter.expr(el.key()).split(" \\. ");
          if (k.length != 3 || !Ip.isIpv4(k[0]) || !k[2].matches("\\d{1,5}")) {
            continue;
          }
          String text = "map " + t.label() + " " + map + " element " + NftPrinter.element(el);
          out.add(
              new ProxyVip(
                  k[0],
                  k[1],
                  Integer.parseInt(k[2]),
                  nftLine(ctx, text, k[0] + " . " + k[1] + " . " + k[2])));
        }
      }
    }
    return out;
  }

  private static List<dev.svcproxy.nftables.ruleset.Ruleset.Table> kubeProxyTables(NodeState node) {
    return node.nftables().tables().stream()
        .filter(t -> t.family().equals("ip") && t.name().equals(NFT_TABLE))
        .toList();
  }

  /** "endpoint-HASH-ns/svc/tcp/p80__10.0.1.1/80" → "tcp". */
  private static String nftProto(String chain) {
    String[] parts = chain.split("__", 2)[0].split("/");
    return parts.length >= 4 ? parts[2] : "";
  }

  private static Evidence nftDnat(
      DoctorContext ctx,
      dev.svcproxy.nftables.ruleset.Ruleset.Table t,
      dev.svcproxy.nftables.ruleset.Ruleset.Chain c,
      String ip,
      int port) {
    String to = ip + (port > 0 ? ":" + port : "");
    return nftLine(ctx, "chain " + t.label() + " " + c.name() + ": dnat to " + to, "dnat to " + to);
  }

  /** The line of nft-ruleset.txt holding {@code needle}, or the JSON ruleset with {@code text}. */
  static Evidence nftLine(DoctorContext ctx, String text, String needle) {
    BundleFiles files = ctx.files();
    if (files.has("nft-ruleset.txt")) {
      return files
          .first("nft-ruleset.txt", l -> l.contains(needle))
          .orElse(files.at("nft-ruleset.txt", 0, text));
    }
    return files.at("nft-ruleset.json", 0, text);
  }

  /** The line that adds real server {@code rs} to {@code v} (save format or listing). */
  private static Evidence realServer(DoctorContext ctx, VirtualServer v, RealServer rs) {
    String save = "-a " + v.kind().option() + " " + v.target() + " -r " + rs.target();
    BundleFiles files = ctx.files();
    Optional<Evidence> line =
        files.first(
            "ipvsadm-save.txt",
            l -> {
              String t = l.strip();
              return t.equals(save) || t.startsWith(save + " ");
            });
    if (line.isPresent()) {
      return line.get();
    }
    // `ipvsadm -Ln`: "-> 10.244.1.5:8080 Masq 1 0 0" under its virtual server's line.
    Optional<String> text = files.text("ipvsadm-save.txt");
    if (text.isPresent()) {
      String[] lines = text.get().split("\n", -1);
      boolean under = false;
      for (int i = 0; i < lines.length; i++) {
        String t = lines[i].strip();
        if (!t.startsWith("->")) {
          String[] w = t.split("\\s+");
          under = w.length >= 2 && w[1].equals(v.target());
        } else if (under && t.substring(2).strip().startsWith(rs.target() + " ")) {
          return files.at("ipvsadm-save.txt", i + 1, t);
        }
      }
    }
    return files.at("ipvsadm-save.txt", 0, save);
  }

  /**
   * The pod range kube-proxy was given (--cluster-cidr), as its rules show it: the negated source
   * of the masquerade rules for Services ({@code ! -s 10.244.0.0/16 ... -j KUBE-MARK-MASQ} in
   * KUBE-SVC chains, or in KUBE-SERVICES with the KUBE-CLUSTER-IP set in IPVS mode; {@code ip saddr
   * != 10.244.0.0/16 jump mark-for-masquerade} in nftables mode).
   */
  static List<Cidr> masqueradeExceptions(NodeState node) {
    Set<Cidr> out = new LinkedHashSet<>(nftMasqueradeExceptions(node));
    iptablesMasqueradeExceptions(node, out);
    return List.copyOf(out);
  }

  /** nftables mode's cluster CIDR: {@code ip saddr != CIDR ... jump mark-for-masquerade}. */
  static List<Cidr> nftMasqueradeExceptions(NodeState node) {
    Set<Cidr> out = new LinkedHashSet<>();
    for (dev.svcproxy.nftables.ruleset.Ruleset.Table t : kubeProxyTables(node)) {
      for (dev.svcproxy.nftables.ruleset.Ruleset.Chain c : t.chains()) {
        for (dev.svcproxy.nftables.ruleset.Ruleset.Rule r : c.rules()) {
          boolean masq =
              r.statements().stream()
                  .anyMatch(
                      st ->
                          st instanceof Stmt.Verdict v && "mark-for-masquerade".equals(v.target()));
          for (Stmt st : r.statements()) {
            if (masq
                && st instanceof Stmt.Match m
                && m.op().equals("!=")
                && m.left() instanceof Expr.Payload p
                && p.protocol().equals("ip")
                && p.field().equals("saddr")
                && m.right() instanceof Expr.Prefix pre) {
              try {
                out.add(Cidr.parseSloppy(pre.addr() + "/" + pre.len()));
              } catch (IllegalArgumentException e) {
                // Not a prefix kube-proxy writes; nothing to learn from it.
              }
            }
          }
        }
      }
    }
    return List.copyOf(out);
  }

  private static void iptablesMasqueradeExceptions(NodeState node, Set<Cidr> out) {
    for (Rule r : rules(node, "nat")) {
      boolean svc = r.chain().startsWith("KUBE-SVC-");
      boolean ipvs =
          r.chain().equals("KUBE-SERVICES")
              && IpvsFacts.setMatch(r).filter(m -> m.set().equals("KUBE-CLUSTER-IP")).isPresent();
      if (!(svc || ipvs) || !r.target().equals("KUBE-MARK-MASQ")) {
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

  /**
   * A route as evidence: its line of a hand-written ip-route.txt (the line that starts with its
   * destination and names its device), else the route file as a whole (captured JSON is one line),
   * or live the command.
   */
  static Evidence route(BundleFiles files, String dst, String dev, String text) {
    String file = routeFile(files);
    if (file.equals("ip-route.txt")) {
      Optional<Evidence> line =
          files.first(
              file,
              l -> {
                String t = l.strip();
                return t.startsWith(dst + " ") && (dev.isEmpty() || t.contains(" dev " + dev));
              });
      if (line.isPresent()) {
        return line.get();
      }
    }
    return files.at(file, 0, text);
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
