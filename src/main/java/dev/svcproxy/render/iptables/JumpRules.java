package dev.svcproxy.render.iptables;

import static dev.svcproxy.render.iptables.ChainNames.EXTERNAL_SERVICES;
import static dev.svcproxy.render.iptables.ChainNames.FIREWALL;
import static dev.svcproxy.render.iptables.ChainNames.FORWARD;
import static dev.svcproxy.render.iptables.ChainNames.NODEPORTS;
import static dev.svcproxy.render.iptables.ChainNames.POSTROUTING;
import static dev.svcproxy.render.iptables.ChainNames.PROXY_FIREWALL;
import static dev.svcproxy.render.iptables.ChainNames.SERVICES;

import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.JumpRule;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import java.util.ArrayList;
import java.util.List;

/**
 * The jump rules from the built-in chains into ours, which upstream ensures one command at a time
 * (each inserted first), and the whole-table view a node shows once they are in place.
 */
public final class JumpRules {
  private static final List<String> NEW = List.of("-m", "conntrack", "--ctstate", "NEW");

  /** kube-proxy's jumps, in the order upstream ensures them. */
  public static final List<JumpRule> KUBE_PROXY =
      List.of(
          jump(
              "filter",
              "INPUT",
              EXTERNAL_SERVICES,
              NEW,
              "kubernetes externally-visible service portals"),
          jump(
              "filter",
              "FORWARD",
              EXTERNAL_SERVICES,
              NEW,
              "kubernetes externally-visible service portals"),
          jump("filter", "INPUT", NODEPORTS, List.of(), "kubernetes health check service ports"),
          jump("filter", "FORWARD", SERVICES, NEW, "kubernetes service portals"),
          jump("filter", "OUTPUT", SERVICES, NEW, "kubernetes service portals"),
          jump("filter", "FORWARD", FORWARD, List.of(), "kubernetes forwarding rules"),
          jump("filter", "INPUT", PROXY_FIREWALL, NEW, "kubernetes load balancer firewall"),
          jump("filter", "OUTPUT", PROXY_FIREWALL, NEW, "kubernetes load balancer firewall"),
          jump("filter", "FORWARD", PROXY_FIREWALL, NEW, "kubernetes load balancer firewall"),
          jump("nat", "OUTPUT", SERVICES, List.of(), "kubernetes service portals"),
          jump("nat", "PREROUTING", SERVICES, List.of(), "kubernetes service portals"),
          jump("nat", "POSTROUTING", POSTROUTING, List.of(), "kubernetes postrouting rules"));

  /** kubelet's KUBE-FIREWALL jumps, which upstream also ensures (with no comment). */
  public static final List<JumpRule> KUBELET =
      List.of(
          new JumpRule("filter", "INPUT", FIREWALL, List.of()),
          new JumpRule("filter", "OUTPUT", FIREWALL, List.of()));

  private static final List<String> FILTER_BUILTINS = List.of("INPUT", "FORWARD", "OUTPUT");
  private static final List<String> NAT_BUILTINS =
      List.of("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING");

  private JumpRules() {}

  private static JumpRule jump(String table, String from, String to, List<String> extra, String c) {
    List<String> args = new ArrayList<>(extra);
    args.addAll(List.of("-m", "comment", "--comment", c));
    return new JumpRule(table, from, to, args);
  }

  /** The rule as "-A FROM ... -j TO", quoting as iptables-restore reads it. */
  public static String print(JumpRule j) {
    StringBuilder b = new StringBuilder("-A ").append(j.from());
    for (String a : j.args()) {
      b.append(' ').append(a.contains(" ") ? "\"" + a + "\"" : a);
    }
    return b.append(" -j ").append(j.to()).toString();
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
      List<JumpRule> all = new ArrayList<>(KUBE_PROXY);
      all.addAll(KUBELET);
      for (JumpRule j : all) {
        if (j.table().equals(t.name())) {
          jumps.add(0, new Line.RuleLine(IptablesCodec.parseRule(print(j))));
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
