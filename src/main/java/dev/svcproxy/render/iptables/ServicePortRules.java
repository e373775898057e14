package dev.svcproxy.render.iptables;

import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.Rule;
import java.util.ArrayList;
import java.util.List;

/**
 * One service port's part of the iptables ruleset: its own nat chains (KUBE-SVC-, -SVL-, -EXT-,
 * -FW-, -SEP-) with their rules, and its rules in the chains all ports share (filter KUBE-SERVICES,
 * KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS, KUBE-PROXY-FIREWALL; nat KUBE-SERVICES, KUBE-NODEPORTS).
 * Each list is in the order the full ruleset writes it.
 *
 * @param sharedFilterRules its rules in the shared filter chains, interleaved as written
 * @param sharedNatRules its rules in the shared nat chains, interleaved as written
 * @param chains its own nat chains, in declaration order
 * @param chainRules the rules of its own chains, in order
 */
public record ServicePortRules(
    ServicePortName name,
    List<Rule> sharedFilterRules,
    List<Rule> sharedNatRules,
    List<String> chains,
    List<Rule> chainRules) {

  public ServicePortRules {
    sharedFilterRules = List.copyOf(sharedFilterRules);
    sharedNatRules = List.copyOf(sharedNatRules);
    chains = List.copyOf(chains);
    chainRules = List.copyOf(chainRules);
  }

  /** Its rules in {@code chain} of {@code table} ("filter" or "nat"), in order. */
  public List<Rule> rulesIn(String table, String chain) {
    List<Rule> from =
        switch (table) {
          case "filter" -> sharedFilterRules;
          case "nat" -> chains.contains(chain) ? chainRules : sharedNatRules;
          default -> List.of();
        };
    List<Rule> out = new ArrayList<>();
    for (Rule r : from) {
      if (r.chain().equals(chain)) {
        out.add(r);
      }
    }
    return out;
  }

  /** Rules in all: shared and own. */
  public int ruleCount() {
    return sharedFilterRules.size() + sharedNatRules.size() + chainRules.size();
  }
}
