package dev.svcproxy.render.iptables;

import static dev.svcproxy.render.iptables.ChainNames.EXTERNAL_SERVICES;
import static dev.svcproxy.render.iptables.ChainNames.FIREWALL;
import static dev.svcproxy.render.iptables.ChainNames.FORWARD;
import static dev.svcproxy.render.iptables.ChainNames.NODEPORTS;
import static dev.svcproxy.render.iptables.ChainNames.POSTROUTING;
import static dev.svcproxy.render.iptables.ChainNames.PROXY_FIREWALL;
import static dev.svcproxy.render.iptables.ChainNames.SERVICES;

import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.RuleBuilder;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.netfilter.TableRule;
import java.util.ArrayList;
import java.util.List;

/**
 * The jump rules from the built-in chains into ours, which upstream ensures one command at a time
 * (each inserted first), and the whole-table view a node shows once they are in place.
 */
public final class JumpRules {

  /** kube-proxy's jumps, in the order upstream ensures them. */
  public static final List<TableRule> KUBE_PROXY =
      List.of(
          jump(
              "filter",
              "INPUT",
              EXTERNAL_SERVICES,
              true,
              "kubernetes externally-visible service portals"),
          jump(
              "filter",
              "FORWARD",
              EXTERNAL_SERVICES,
              true,
              "kubernetes externally-visible service portals"),
          jump("filter", "INPUT", NODEPORTS, false, "kubernetes health check service ports"),
          jump("filter", "FORWARD", SERVICES, true, "kubernetes service portals"),
          jump("filter", "OUTPUT", SERVICES, true, "kubernetes service portals"),
          jump("filter", "FORWARD", FORWARD, false, "kubernetes forwarding rules"),
          jump("filter", "INPUT", PROXY_FIREWALL, true, "kubernetes load balancer firewall"),
          jump("filter", "OUTPUT", PROXY_FIREWALL, true, "kubernetes load balancer firewall"),
          jump("filter", "FORWARD", PROXY_FIREWALL, true, "kubernetes load balancer firewall"),
          jump("nat", "OUTPUT", SERVICES, false, "kubernetes service portals"),
          jump("nat", "PREROUTING", SERVICES, false, "kubernetes service portals"),
          jump("nat", "POSTROUTING", POSTROUTING, false, "kubernetes postrouting rules"));

  /** kubelet's KUBE-FIREWALL jumps, which upstream also ensures (with no comment). */
  public static final List<TableRule> KUBELET =
      List.of(
          new TableRule("filter", Rule.in("INPUT").jump(FIREWALL).build()),
          new TableRule("filter", Rule.in("OUTPUT").jump(FIREWALL).build()));

  private static final List<String> FILTER_BUILTINS = List.of("INPUT", "FORWARD", "OUTPUT");
  private static final List<String> NAT_BUILTINS =
      List.of("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING");

  private JumpRules() {}

  /** "-A FROM [-m conntrack --ctstate NEW] -m comment --comment C -j TO", as upstream writes it. */
  private static TableRule jump(String table, String from, String to, boolean onlyNew, String c) {
    RuleBuilder r = Rule.in(from);
    if (onlyNew) {
      r.module("conntrack").option("--ctstate", "NEW");
    }
    return new TableRule(table, r.comment(c).jump(to).build());
  }

  /**
   * What a node holds after a full sync into empty tables: built-in chains with ACCEPT policy, the
   * jump rules (the last ensured first, since each is inserted at the top), then the rendered
   * chains. The tracer runs on this to explain our own output without a kernel.
   */
  public static Ruleset onNode(Ruleset rendered) {
    List<Table> out = new ArrayList<>();
    for (Table t : rendered.tables()) {
      List<String> builtins = t.name().equals("nat") ? NAT_BUILTINS : FILTER_BUILTINS;
      List<Line> lines = new ArrayList<>();
      for (String b : builtins) {
        lines.add(new Line.ChainDecl(b, "ACCEPT", "[0:0]"));
      }
      List<Line> jumps = new ArrayList<>();
      List<TableRule> all = new ArrayList<>(KUBE_PROXY);
      all.addAll(KUBELET);
      for (TableRule j : all) {
        if (j.table().equals(t.name())) {
          jumps.add(0, new Line.RuleLine(j.rule()));
        }
      }
      for (Line l : t.lines()) {
        if (l instanceof Line.ChainDecl) {
          lines.add(l);
        }
      }
      lines.addAll(jumps);
      for (Line l : t.lines()) {
        if (l instanceof Line.RuleLine) {
          lines.add(l);
        }
      }
      out.add(new Table(t.name(), lines));
    }
    return new Ruleset(out);
  }
}
