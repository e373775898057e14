package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.KubectlTable;
import dev.svcproxy.doctor.PastedInput;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * Which nodes a Service port's endpoints are on when the cluster objects do not say: the endpoint
 * addresses the node's own rules DNAT to (the KUBE-SEP chains kube-proxy comments with the Service
 * port's name), each placed on a node by a pasted {@code kubectl get pods -o wide} row.
 */
final class EndpointNodes {
  private EndpointNodes() {}

  /** The sentence that names the nodes, and the rules and table rows it rests on. */
  record Located(String who, List<Evidence> evidence) {}

  /**
   * The nodes of {@code spn}'s endpoints by the rules and the pasted pods table; empty when the
   * rules show no endpoint of it.
   */
  static Optional<Located> fromRules(DoctorContext ctx, String spn) {
    Map<String, Evidence> dnat = new LinkedHashMap<>();
    for (ProxyRules.Backend b : ProxyRules.backends(ctx)) {
      Optional<Table> nat = b.table("nat");
      if (nat.isEmpty()) {
        continue;
      }
      for (Map.Entry<String, List<Rule>> c : nat.get().chains().entrySet()) {
        if (!c.getKey().startsWith("KUBE-SEP-")) {
          continue;
        }
        for (Rule r : c.getValue()) {
          Optional<String> to = r.option("--to-destination").map(o -> o.text());
          boolean ours =
              r.comment().map(s -> s.strip().split("\\s+", 2)[0]).filter(spn::equals).isPresent();
          if (r.target().equals("DNAT") && to.isPresent() && ours) {
            String ip = to.get().replaceAll(":\\d+$", "");
            dnat.putIfAbsent(ip, ProxyRules.cite(ctx, b.file(), r));
          }
        }
      }
    }
    if (dnat.isEmpty()) {
      return Optional.empty();
    }
    List<KubectlTable.PodRow> pods =
        ctx.files().text(PastedInput.KUBECTL_TABLES).map(KubectlTable::pods).orElse(List.of());
    List<Evidence> ev = new ArrayList<>(dnat.values());
    TreeSet<String> placed = new TreeSet<>();
    List<String> unplaced = new ArrayList<>();
    for (String ip : dnat.keySet()) {
      Optional<KubectlTable.PodRow> pod = pods.stream().filter(p -> p.ip().equals(ip)).findFirst();
      if (pod.isPresent()) {
        placed.add(pod.get().node() + " (" + ip + ")");
        ev.add(ctx.files().at(PastedInput.KUBECTL_TABLES, pod.get().line(), pod.get().text()));
      } else {
        unplaced.add(ip);
      }
    }
    StringBuilder who = new StringBuilder("the endpoints its rules send to are ");
    if (!placed.isEmpty()) {
      who.append("on ").append(String.join(", ", placed));
    }
    if (!unplaced.isEmpty()) {
      who.append(placed.isEmpty() ? "" : "; ")
          .append(String.join(", ", unplaced))
          .append(" on a node not shown (`kubectl get pods -o wide` shows which)");
    }
    return Optional.of(new Located(who.toString(), ev));
  }
}
