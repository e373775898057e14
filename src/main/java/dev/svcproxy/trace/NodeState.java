package dev.svcproxy.trace;

import dev.svcproxy.ipvs.IpvsConnection;
import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.nftables.ruleset.Ruleset;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Everything the tracer knows about a node: addresses, routes of every table, routing rules,
 * sysctls, the iptables rulesets of both backends, ipsets, conntrack entries and xt_recent lists,
 * IPVS: its service table and connection entries (the ip_vs sysctls are among {@code sysctls}), and
 * the nftables ruleset. Anything missing from a capture is empty, and {@code notes} says what was
 * assumed instead.
 */
public record NodeState(
    List<Interface> interfaces,
    List<Route> routes,
    List<RoutingRule> rules,
    Map<String, String> sysctls,
    List<dev.svcproxy.netfilter.Ruleset> iptables,
    Map<String, IpSet> ipsets,
    List<ConntrackEntry> conntrack,
    Map<String, List<String>> recent,
    List<String> warnings,
    List<String> notes,
    IpvsTable ipvs,
    List<IpvsConnection> ipvsConnections,
    Ruleset nftables) {

  public NodeState {
    interfaces = List.copyOf(interfaces);
    routes = List.copyOf(routes);
    rules = List.copyOf(rules);
    sysctls = Map.copyOf(sysctls);
    iptables = List.copyOf(iptables);
    ipsets = Map.copyOf(ipsets);
    conntrack = List.copyOf(conntrack);
    recent = Map.copyOf(recent);
    warnings = List.copyOf(warnings);
    notes = List.copyOf(notes);
    ipvs = ipvs == null ? IpvsTable.empty() : ipvs;
    ipvsConnections = List.copyOf(ipvsConnections);
    nftables = nftables == null ? Ruleset.empty() : nftables;
  }

  /** A node without an nftables ruleset. */
  public NodeState(
      List<Interface> interfaces,
      List<Route> routes,
      List<RoutingRule> rules,
      Map<String, String> sysctls,
      List<dev.svcproxy.netfilter.Ruleset> iptables,
      Map<String, IpSet> ipsets,
      List<ConntrackEntry> conntrack,
      Map<String, List<String>> recent,
      List<String> warnings,
      List<String> notes,
      IpvsTable ipvs,
      List<IpvsConnection> ipvsConnections) {
    this(
        interfaces,
        routes,
        rules,
        sysctls,
        iptables,
        ipsets,
        conntrack,
        recent,
        warnings,
        notes,
        ipvs,
        ipvsConnections,
        Ruleset.empty());
  }

  /** A node without IPVS. */
  public NodeState(
      List<Interface> interfaces,
      List<Route> routes,
      List<RoutingRule> rules,
      Map<String, String> sysctls,
      List<dev.svcproxy.netfilter.Ruleset> iptables,
      Map<String, IpSet> ipsets,
      List<ConntrackEntry> conntrack,
      Map<String, List<String>> recent,
      List<String> warnings,
      List<String> notes) {
    this(
        interfaces,
        routes,
        rules,
        sysctls,
        iptables,
        ipsets,
        conntrack,
        recent,
        warnings,
        notes,
        IpvsTable.empty(),
        List.of());
  }

  /** This node with {@code table} and {@code connections} as its IPVS state. */
  public NodeState withIpvs(IpvsTable table, List<IpvsConnection> connections) {
    return new NodeState(
        interfaces,
        routes,
        rules,
        sysctls,
        iptables,
        ipsets,
        conntrack,
        recent,
        warnings,
        notes,
        table,
        connections,
        nftables);
  }

  /** This node with {@code ruleset} as its nftables ruleset (`nft -j list ruleset`). */
  public NodeState withNftables(Ruleset ruleset) {
    return new NodeState(
        interfaces,
        routes,
        rules,
        sysctls,
        iptables,
        ipsets,
        conntrack,
        recent,
        warnings,
        notes,
        ipvs,
        ipvsConnections,
        ruleset);
  }

  /** An interface with its IPv4 addresses (primary first, as `ip addr` lists them). */
  public record Interface(String name, List<Address> addresses, String master, boolean up) {
    public Interface {
      addresses = List.copyOf(addresses);
      master = master == null ? "" : master;
    }
  }

  /** One IPv4 address of an interface. */
  public record Address(String ip, int prefixLength, String scope, boolean secondary) {}

  /** One route of one table; dst "0.0.0.0/0" for default. */
  public record Route(
      String table,
      String type,
      String dst,
      String gateway,
      String dev,
      String prefsrc,
      int metric,
      String scope) {}

  /** One `ip rule`: selector and the table it looks up (or its action). */
  public record RoutingRule(
      int priority,
      String from,
      String to,
      String iif,
      String oif,
      Long fwmark,
      Long fwmask,
      boolean not,
      String table,
      String action) {}

  /**
   * An ipset: its type ("hash:ip,port") and entries as `ipset save` prints them, with their options
   * (a "nomatch" entry is an exception to a wider net, not a member).
   */
  public record IpSet(String name, String type, List<IpsetCodec.Entry> entries) {
    public IpSet {
      entries = List.copyOf(entries);
    }

    /** The elements alone, in order. */
    public List<String> members() {
      return entries.stream().map(IpsetCodec.Entry::element).toList();
    }
  }

  /** One conntrack entry: the original and reply tuples. */
  public record ConntrackEntry(
      String proto, String state, Tuple original, Tuple reply, boolean seenReply, long mark) {}

  /** A connection tuple. */
  public record Tuple(String src, String dst, int sport, int dport) {}

  public String sysctl(String key, String dflt) {
    return sysctls.getOrDefault(key, dflt);
  }

  public Optional<Interface> iface(String name) {
    return interfaces.stream().filter(i -> i.name().equals(name)).findFirst();
  }
}
