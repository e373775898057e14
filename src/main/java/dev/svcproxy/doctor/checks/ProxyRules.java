package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.nftables.ruleset.Expr;
import dev.svcproxy.nftables.ruleset.NftPrinter;
import dev.svcproxy.trace.NodeState;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** What the proxy's rules on a node say, read from the node model for the proxy checks. */
final class ProxyRules {
  static final String NO_ENDPOINTS = " has no endpoints";
  static final String NO_LOCAL_ENDPOINTS = " has no local endpoints";

  private ProxyRules() {}

  /** One iptables backend's rules and the bundle file they came from. */
  record Backend(String file, Ruleset rules) {
    boolean legacy() {
      return file.equals("iptables-legacy-save.txt");
    }

    Optional<Table> table(String name) {
      return rules.table(name);
    }

    boolean hasChain(String table, String chain) {
      return table(table).flatMap(t -> t.chainDecl(chain)).isPresent();
    }

    int ruleCount() {
      return rules.tables().stream().mapToInt(t -> t.rules().size()).sum();
    }
  }

  /**
   * A Service port the node's rules turn away: REJECT (no endpoints at all) or DROP (eTP=Local, no
   * local endpoint), with the rule or map element that does it.
   */
  record Turned(String servicePort, boolean reject, String destination, Evidence evidence) {}

  /** The iptables backends, the main one first, as the bundle reader read them. */
  static List<Backend> backends(DoctorContext ctx) {
    List<String> names = new ArrayList<>();
    for (String f : List.of("iptables-save.txt", "iptables-legacy-save.txt")) {
      if (ctx.files().has(f)) {
        names.add(f);
      }
    }
    List<Backend> out = new ArrayList<>();
    List<Ruleset> sets = ctx.node().iptables();
    for (int i = 0; i < sets.size() && i < names.size(); i++) {
      out.add(new Backend(names.get(i), sets.get(i)));
    }
    return out;
  }

  /** The line of {@code file} that holds {@code rule} (counters aside), or the rule alone. */
  static Evidence cite(DoctorContext ctx, String file, Rule rule) {
    String printed = rule.print();
    return ctx.files()
        .first(file, l -> stripCounters(l).equals(printed))
        .orElseGet(() -> ctx.files().at(file, 0, printed));
  }

  private static String stripCounters(String line) {
    String s = line.strip();
    return s.startsWith("[") && s.indexOf(']') > 0 ? s.substring(s.indexOf(']') + 1).strip() : s;
  }

  /** Every Service port the rules reject or drop for want of (local) endpoints. */
  static List<Turned> turnedAway(DoctorContext ctx) {
    List<Turned> out = new ArrayList<>();
    for (Backend b : backends(ctx)) {
      Optional<Table> filter = b.table("filter");
      if (filter.isEmpty()) {
        continue;
      }
      for (String chain : List.of("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES")) {
        for (Rule r : filter.get().rules(chain)) {
          Optional<String> c = r.comment();
          if (c.isEmpty()) {
            continue;
          }
          String comment = c.get();
          boolean reject = r.target().equals("REJECT") && comment.endsWith(NO_ENDPOINTS);
          boolean drop = r.target().equals("DROP") && comment.endsWith(NO_LOCAL_ENDPOINTS);
          if (!reject && !drop) {
            continue;
          }
          String spn =
              comment.substring(
                  0, comment.length() - (reject ? NO_ENDPOINTS : NO_LOCAL_ENDPOINTS).length());
          out.add(new Turned(spn, reject, destination(r), cite(ctx, b.file(), r)));
        }
      }
    }
    for (dev.svcproxy.nftables.ruleset.Ruleset.Table t : ctx.node().nftables().tables()) {
      if (!t.name().equals("kube-proxy")) {
        continue;
      }
      for (String map : List.of("no-endpoint-services", "no-endpoint-nodeports")) {
        t.set(map)
            .ifPresent(
                s -> {
                  for (dev.svcproxy.nftables.ruleset.Ruleset.Element el : s.elements()) {
                    if (el.comment() == null || !(el.value() instanceof Expr.VerdictExpr v)) {
                      continue;
                    }
                    boolean reject = v.kind().equals("goto") || v.kind().equals("jump");
                    boolean drop = v.kind().equals("drop");
                    if (!reject && !drop) {
                      continue;
                    }
                    String text =
                        "map " + t.label() + " " + map + " element " + NftPrinter.element(el);
                    out.add(
                        new Turned(
                            el.comment(),
                            reject,
                            NftPrinter.expr(el.key()),
                            ctx.files().has("nft-ruleset.txt")
                                ? ctx.files()
                                    .first("nft-ruleset.txt", l -> l.contains(el.comment()))
                                    .orElse(ctx.files().at("nft-ruleset.txt", 0, text))
                                : ctx.files().at("nft-ruleset.json", 0, text)));
                  }
                });
      }
    }
    return out;
  }

  /** "10.96.0.12:80/tcp", "NodePort 30081/tcp": where a kube-proxy filter rule applies. */
  private static String destination(Rule r) {
    String proto = r.param("-p").map(p -> p.value().text()).orElse("");
    String port = r.option("--dport").map(o -> o.text()).orElse("");
    Optional<String> dst = r.param("-d").map(p -> p.value().text().replace("/32", ""));
    String where = dst.orElse(r.modules().contains("addrtype") ? "NodePort " : "");
    String sep = dst.isPresent() ? ":" : "";
    return where + sep + port + (proto.isEmpty() ? "" : "/" + proto);
  }

  /** The main-table route that carries {@code ip} (longest prefix; lowest metric among equals). */
  static Optional<NodeState.Route> routeTo(NodeState node, String ip) {
    NodeState.Route best = null;
    int bestLen = -1;
    for (NodeState.Route r : node.routes()) {
      if (!r.table().equals("main") && !r.table().isEmpty()) {
        continue;
      }
      if (!r.type().isEmpty() && !r.type().equals("unicast")) {
        continue;
      }
      Cidr c;
      try {
        c = Cidr.parseSloppy(r.dst().equals("default") ? "0.0.0.0/0" : r.dst());
      } catch (IllegalArgumentException e) {
        continue;
      }
      if (c.ipv6() || !Ip.isIpv4(ip) || !c.contains(ip)) {
        continue;
      }
      if (c.prefixLength() > bestLen
          || (c.prefixLength() == bestLen && best != null && r.metric() < best.metric())) {
        best = r;
        bestLen = c.prefixLength();
      }
    }
    return Optional.ofNullable(best);
  }

  /**
   * The node's own pods' interface for {@code ip}: a pod on this node is reached without a gateway,
   * through a bridge (cni0, docker0: other interfaces name it their master) or a /32 route to its
   * veth (Calico). Empty when the address lives elsewhere.
   */
  static Optional<String> localPodDevice(NodeState node, String ip) {
    Optional<NodeState.Route> r = routeTo(node, ip);
    if (r.isEmpty() || !r.get().gateway().isEmpty() || r.get().dev().isEmpty()) {
      return Optional.empty();
    }
    String dev = r.get().dev();
    boolean bridge = node.interfaces().stream().anyMatch(i -> i.master().equals(dev));
    boolean hostRoute = r.get().dst().endsWith("/32") && !dev.equals("lo");
    return bridge || hostRoute ? Optional.of(dev) : Optional.empty();
  }

  /** Whether {@code ip} is an address of the node itself. */
  static boolean isNodeAddress(NodeState node, String ip) {
    return node.interfaces().stream()
        .flatMap(i -> i.addresses().stream())
        .anyMatch(a -> a.ip().equals(ip));
  }
}
