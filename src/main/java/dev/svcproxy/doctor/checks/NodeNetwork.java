package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.BundleFiles;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Step;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;

/**
 * What the CNI checks read from a node's addresses, routes and rules: where its pods live, which
 * subnets it is attached to, and the bundle line behind a traced rule.
 */
final class NodeNetwork {
  private NodeNetwork() {}

  /** A bridge with ports (pods or containers on veths) and the subnet of its address. */
  record Bridge(String name, NodeState.Address address, Cidr subnet, List<String> ports) {}

  /** Every bridge of the node that has ports and an IPv4 address. */
  static List<Bridge> bridges(NodeState node) {
    List<Bridge> out = new ArrayList<>();
    for (NodeState.Interface i : node.interfaces()) {
      List<String> ports =
          node.interfaces().stream()
              .filter(p -> p.master().equals(i.name()))
              .map(NodeState.Interface::name)
              .toList();
      if (ports.isEmpty() || i.addresses().isEmpty()) {
        continue;
      }
      NodeState.Address a = i.addresses().get(0);
      out.add(new Bridge(i.name(), a, subnet(a), ports));
    }
    return out;
  }

  static Cidr subnet(NodeState.Address a) {
    return Cidr.parseSloppy(a.ip() + "/" + a.prefixLength());
  }

  /**
   * The node's pod subnets: its podCIDRs from node.yaml, else the subnets of its bridges that have
   * ports (cni0 as the bridge plugin sets it up), which is recorded as an assumption.
   */
  static List<Cidr> podSubnets(DoctorContext ctx) {
    if (!ctx.facts().podCidrs().isEmpty()) {
      return ctx.facts().podCidrs().stream().filter(c -> !c.ipv6()).toList();
    }
    List<Cidr> out = new ArrayList<>();
    for (Bridge b : bridges(ctx.node())) {
      out.add(b.subnet());
    }
    if (!out.isEmpty()) {
      ctx.assume(
          "this node's podCIDRs unknown (no node.yaml): taken from its bridges with ports " + out);
    }
    return out;
  }

  /** The last host address of a subnet: a pod source for a probe, unlikely to be the gateway. */
  static String probeHost(Cidr c) {
    long base = Ip.ipv4ToLong(c.address());
    long size = c.prefixLength() >= 31 ? 1 : (1L << (32 - c.prefixLength()));
    return Ip.longToIpv4(c.prefixLength() >= 31 ? base : base + size - 2);
  }

  /** The second host address of a subnet (the first is usually its gateway). */
  static String secondHost(Cidr c) {
    long base = Ip.ipv4ToLong(c.address());
    return Ip.longToIpv4(c.prefixLength() >= 31 ? base : base + 2);
  }

  /** Whether prefix {@code a} contains all of prefix {@code b}. */
  static boolean covers(Cidr a, Cidr b) {
    return !a.ipv6()
        && !b.ipv6()
        && a.prefixLength() <= b.prefixLength()
        && a.contains(b.address());
  }

  /** Whether two IPv4 prefixes share any address. */
  static boolean overlaps(Cidr a, Cidr b) {
    return covers(a, b) || covers(b, a);
  }

  /** Connected (link) routes of the main table: the subnets the node's interfaces sit on. */
  static List<NodeState.Route> connected(NodeState node) {
    return node.routes().stream()
        .filter(r -> r.table().isEmpty() || r.table().equals("main"))
        .filter(r -> r.type().isEmpty() || r.type().equals("unicast"))
        .filter(r -> r.gateway() == null || r.gateway().isEmpty())
        .filter(r -> r.dst().contains("/") && !r.dst().equals("0.0.0.0/0"))
        .toList();
  }

  /** The bundle file a table label of the tracer ("nat", "legacy filter") comes from. */
  static String file(BundleFiles files, String tableLabel) {
    if (tableLabel.startsWith("legacy ")) {
      return "iptables-legacy-save.txt";
    }
    return files.has("iptables-save.txt") ? "iptables-save.txt" : "iptables-legacy-save.txt";
  }

  static String bareTable(String tableLabel) {
    return tableLabel.startsWith("legacy ") ? tableLabel.substring(7) : tableLabel;
  }

  /** The ruleset behind a table label of the tracer. */
  static Optional<Table> table(NodeState node, String tableLabel) {
    int i = tableLabel.startsWith("legacy ") ? 1 : 0;
    if (node.iptables().size() <= i) {
      return Optional.empty();
    }
    Ruleset rs = node.iptables().get(i);
    return rs.table(bareTable(tableLabel));
  }

  /** The rule a trace step names (rule numbers count from 1 within the chain). */
  static Optional<Rule> rule(NodeState node, Step s) {
    if (s.rule() <= 0 || s.table().startsWith("nft")) {
      return Optional.empty();
    }
    return table(node, s.table())
        .map(t -> t.rules(s.chain()))
        .filter(rs -> rs.size() >= s.rule())
        .map(rs -> rs.get(s.rule() - 1));
  }

  /**
   * The line of the table's section in its bundle file that {@code line} accepts, as evidence; when
   * the file lacks it, the text as given without a line.
   */
  static Evidence inTable(
      DoctorContext ctx, String tableLabel, Predicate<String> line, String fallback) {
    BundleFiles files = ctx.files();
    String file = file(files, tableLabel);
    String want = bareTable(tableLabel);
    Optional<String> text = files.text(file);
    if (text.isPresent()) {
      String[] lines = text.get().split("\n", -1);
      String current = "";
      for (int n = 0; n < lines.length; n++) {
        String l = lines[n].strip();
        if (l.startsWith("*")) {
          current = l.substring(1);
        } else if (current.equals(want) && line.test(l)) {
          return files.at(file, n + 1, l);
        }
      }
    }
    return files.at(file, 0, fallback);
  }

  /** The bundle line of a rule of a table (matched on the rule's text as the dump printed it). */
  static Evidence ruleLine(DoctorContext ctx, String tableLabel, Rule r) {
    Set<String> texts = new LinkedHashSet<>();
    texts.add(r.print());
    table(ctx.node(), tableLabel)
        .ifPresent(
            t -> {
              for (Line l : t.lines()) {
                if (l instanceof Line.RuleLine rl && rl.rule().equals(r) && rl.raw() != null) {
                  texts.add(rl.raw().strip());
                }
              }
            });
    return inTable(
        ctx,
        tableLabel,
        l -> texts.contains(dev.svcproxy.netfilter.Rule.withoutCounters(l)),
        r.print());
  }

  /** The policy line of a built-in chain (":FORWARD DROP [0:0]"). */
  static Evidence policyLine(DoctorContext ctx, String tableLabel, String chain, String policy) {
    return inTable(
        ctx, tableLabel, l -> l.startsWith(":" + chain + " "), ":" + chain + " " + policy);
  }

  /** The policy of a built-in chain in a table, if the dump declares it. */
  static Optional<String> policy(Table t, String chain) {
    return t.chainDecl(chain).map(Line.ChainDecl::policy);
  }

  /** The table labels of every filter table the node has ("filter", "legacy filter"). */
  static List<String> labels(NodeState node, String table) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < node.iptables().size(); i++) {
      if (node.iptables().get(i).table(table).isPresent()) {
        out.add((i == 0 ? "" : "legacy ") + table);
      }
    }
    return out;
  }
}
