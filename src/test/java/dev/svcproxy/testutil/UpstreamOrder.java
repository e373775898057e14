package dev.svcproxy.testutil;

import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The normalisation upstream's tests apply before comparing (sortIPTablesRules): tables by name,
 * chains KUBE-NODEPORTS, KUBE-SERVICES, then alphabetical; rules grouped by chain in chain order,
 * keeping their order within a chain except KUBE-NODEPORTS/KUBE-SERVICES sorted by service name.
 */
public final class UpstreamOrder {
  private UpstreamOrder() {}

  public static String sort(String restoreText) {
    Ruleset rs = IptablesCodec.parseStrict(restoreText, "rules");
    StringBuilder out = new StringBuilder();
    List<Table> tables = new ArrayList<>(rs.tables());
    tables.sort(Comparator.comparing(Table::name));
    for (Table t : tables) {
      out.append('*').append(t.name()).append('\n');
      List<String> chains = new ArrayList<>(t.chains().keySet());
      chains.sort(UpstreamOrder::compareChains);
      Map<String, List<Rule>> byChain = t.chains();
      for (String c : chains) {
        out.append(":").append(c).append(" - [0:0]\n");
      }
      for (String c : chains) {
        List<Rule> rules = new ArrayList<>(byChain.get(c));
        if (c.equals("KUBE-NODEPORTS") || c.equals("KUBE-SERVICES")) {
          rules.sort(
              (a, b) -> {
                if (isLast(a) != isLast(b)) {
                  return isLast(a) ? 1 : -1;
                }
                return serviceName(a).compareTo(serviceName(b));
              });
        }
        rules.forEach(r -> out.append(r.print()).append('\n'));
      }
      for (Line l : t.lines()) {
        if (l instanceof Line.DeleteChain d) {
          out.append(d.print()).append('\n');
        }
      }
      out.append("COMMIT\n");
    }
    return out.toString();
  }

  private static boolean isLast(Rule r) {
    return r.chain().equals("KUBE-SERVICES")
        && r.comment().map(c -> c.contains("must be the last rule")).orElse(false);
  }

  private static String serviceName(Rule r) {
    String c = r.comment().orElse("");
    int i = indexOfAny(c);
    return i < 0 ? c : c.substring(0, i);
  }

  private static int indexOfAny(String s) {
    int a = s.indexOf(' ');
    int b = s.indexOf(':');
    if (a < 0) {
      return b;
    }
    if (b < 0) {
      return a;
    }
    return Math.min(a, b);
  }

  private static int compareChains(String a, String b) {
    int ra = rank(a);
    int rb = rank(b);
    if (ra != rb) {
      return Integer.compare(ra, rb);
    }
    return a.compareTo(b);
  }

  private static int rank(String c) {
    if (c.equals("KUBE-NODEPORTS")) {
      return 0;
    }
    if (c.equals("KUBE-SERVICES")) {
      return 1;
    }
    return c.startsWith("KUBE-") ? 2 : 3;
  }
}
