package dev.svcproxy.trace.engine;

import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One iptables table of one backend, with rules indexed by chain; {@code backend} is "" for the
 * first ruleset (iptables-nft or the only one) and "legacy " for the second.
 */
record TableView(
    String backend, String table, Map<String, List<Rule>> chains, Map<String, String> policies) {

  TableView {
    Map<String, List<Rule>> c = new HashMap<>();
    chains.forEach((name, rules) -> c.put(name, List.copyOf(rules)));
    chains = Map.copyOf(c);
    policies = Map.copyOf(policies);
  }

  /** The table as steps name it: "filter", "legacy nat". */
  String label() {
    return backend + table;
  }

  /** Every table of every ruleset, backends in capture order. */
  static List<TableView> of(List<Ruleset> rulesets) {
    List<TableView> views = new ArrayList<>();
    int i = 0;
    for (Ruleset rs : rulesets) {
      String backend = i++ == 0 ? "" : "legacy ";
      for (Table t : rs.tables()) {
        Map<String, String> policies = new HashMap<>();
        for (Line.ChainDecl c : t.chainDecls()) {
          if (c.policy() != null) {
            policies.put(c.name(), c.policy());
          }
        }
        views.add(new TableView(backend, t.name(), t.chains(), policies));
      }
    }
    return List.copyOf(views);
  }
}
