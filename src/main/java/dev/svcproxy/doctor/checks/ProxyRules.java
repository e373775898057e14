package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.netfilter.Arg;
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
        .first(file, l -> dev.svcproxy.netfilter.Rule.withoutCounters(l.strip()).equals(printed))
        .orElseGet(() -> ctx.files().at(file, 0, printed));
  }

  /**
   * Where a turn-away applies, parsed: {@code ip} is the Service address, or empty for a NodePort
   * (any local address); {@code proto} and {@code port} are empty/0 when the rule does not say.
   */
  record Dest(Optional<String> ip, String proto, int port) {
    /** Whether a packet to {@code dst}:{@code dport}/{@code p} is one this applies to. */
    boolean covers(String dst, int dport, String p) {
      return port == dport
          && (proto.isEmpty() || proto.equalsIgnoreCase(p))
          && ip.map(dst::equals).orElse(true);
    }

    @Override
    public String toString() {
      String where = ip.map(i -> i + ":" + port).orElse("NodePort " + port);
      return where + (proto.isEmpty() ? "" : "/" + proto);
    }
  }

  /**
   * A Service port the node's rules turn away: REJECT (no endpoints at all) or DROP (eTP=Local, no
   * local endpoint), with the rule or map element that does it ({@code rule}: the iptables rule the
   * packet ends at or is marked by, null for nftables) and what else shows the path ({@code more}:
   * the jump into the chain, the filter rule that drops marked packets).
   */
  record Turned(
      String servicePort,
      boolean reject,
      Dest dest,
      Evidence evidence,
      List<Evidence> more,
      Rule rule) {
    Turned {
      more = List.copyOf(more);
    }

    String destination() {
      return dest.toString();
    }
  }

  /**
   * Every Service port the rules reject or drop for want of (local) endpoints, found by structure
   * (which chain a Service's packets reach and what it does there), whatever the rules' comments
   * say; a comment only names the Service port. The layouts kube-proxy has written (upstream
   * kubernetes/kubernetes pkg/proxy/iptables/proxier.go): up to 1.21-1.23 a Service with eTP=Local
   * and no local endpoint gets a nat {@code KUBE-XLB-<hash>} chain (reached from KUBE-NODEPORTS by
   * {@code --dport}, and from the LB's KUBE-FW chain) whose last, unconditional rule is {@code -j
   * KUBE-MARK-DROP}, and filter {@code KUBE-FIREWALL} (kubelet's) drops packets with that mark at
   * INPUT; from 1.22/1.24 the drop is a filter KUBE-EXTERNAL-SERVICES / KUBE-SERVICES rule {@code
   * -d VIP --dport P -j DROP} or {@code -m addrtype --dst-type LOCAL --dport NP -j DROP}; a Service
   * without endpoints gets the same rules with REJECT; nftables mode keeps them as elements of the
   * no-endpoint-services / no-endpoint-nodeports verdict maps.
   */
  static List<Turned> turnedAway(DoctorContext ctx) {
    List<Turned> out = new ArrayList<>();
    for (Backend b : backends(ctx)) {
      Optional<Table> filter = b.table("filter");
      if (filter.isPresent()) {
        for (String chain : List.of("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES")) {
          for (Rule r : filter.get().rules(chain)) {
            boolean reject = r.target().equals("REJECT");
            if (!reject && !r.target().equals("DROP")) {
              continue;
            }
            Optional<Dest> d = dest(r, false);
            if (d.isEmpty()) {
              continue; // not one Service port's rule
            }
            out.add(
                new Turned(
                    name(ctx, r.comment(), d.get()),
                    reject,
                    d.get(),
                    cite(ctx, b.file(), r),
                    List.of(),
                    r));
          }
        }
      }
      b.table("nat").ifPresent(nat -> out.addAll(markDropped(ctx, b, nat, filter)));
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
                    if (!(el.value() instanceof Expr.VerdictExpr v)) {
                      continue;
                    }
                    boolean reject = v.kind().equals("goto") || v.kind().equals("jump");
                    boolean drop = v.kind().equals("drop");
                    Optional<Dest> d = nftDest(el.key());
                    if ((!reject && !drop) || d.isEmpty()) {
                      continue;
                    }
                    String text =
                        "map " + t.label() + " " + map + " element " + NftPrinter.element(el);
                    String key = NftPrinter.expr(el.key());
                    out.add(
                        new Turned(
                            name(ctx, Optional.ofNullable(el.comment()), d.get()),
                            reject,
                            d.get(),
                            ctx.files().has("nft-ruleset.txt")
                                ? ctx.files()
                                    .first(
                                        "nft-ruleset.txt",
                                        l -> l.strip().startsWith(key + " ") && l.contains(" : "))
                                    .or(
                                        () ->
                                            el.comment() == null
                                                ? Optional.empty()
                                                : ctx.files()
                                                    .first(
                                                        "nft-ruleset.txt",
                                                        l -> l.contains(el.comment())))
                                    .orElse(ctx.files().at("nft-ruleset.txt", 0, text))
                                : ctx.files().at("nft-ruleset.json", 0, text),
                            List.of(),
                            null));
                  }
                });
      }
    }
    return out;
  }

  /**
   * The pre-1.24 layout: a nat chain that Service traffic reaches (from KUBE-NODEPORTS by NodePort,
   * from KUBE-SERVICES by address and port, or through the LB's chain) and that ends with an
   * unconditional jump to a chain setting a mark which a filter rule drops. Only the node's own and
   * pod sources are let through before it (the XLB chain's {@code -s podCIDR} and {@code --src-type
   * LOCAL} rules), so every external packet is dropped.
   */
  private static List<Turned> markDropped(
      DoctorContext ctx, Backend b, Table nat, Optional<Table> filter) {
    List<Turned> out = new ArrayList<>();
    for (java.util.Map.Entry<String, List<Rule>> c : nat.chains().entrySet()) {
      List<Rule> rules = c.getValue();
      if (rules.isEmpty() || c.getKey().equals("KUBE-SERVICES")) {
        continue;
      }
      Rule last = rules.get(rules.size() - 1);
      if (!unconditional(last)) {
        continue;
      }
      Optional<List<Evidence>> dropper = markDropper(ctx, b, nat, filter, last.target());
      if (dropper.isEmpty()) {
        continue;
      }
      // The jumps that bring a Service port's packets here: straight from KUBE-NODEPORTS or
      // KUBE-SERVICES, or through one chain reached from KUBE-SERVICES (the LB's KUBE-FW chain).
      List<Rule> entries = new ArrayList<>();
      for (String from : List.of("KUBE-NODEPORTS", "KUBE-SERVICES")) {
        for (Rule j : nat.rules(from)) {
          if (j.target().equals(c.getKey())) {
            entries.add(j);
          } else if (from.equals("KUBE-SERVICES")
              && nat.rules(j.target()).stream().anyMatch(k -> k.target().equals(c.getKey()))) {
            entries.add(j);
          }
        }
      }
      for (Rule j : entries) {
        Optional<Dest> d = dest(j, j.chain().equals("KUBE-NODEPORTS"));
        if (d.isEmpty()) {
          continue;
        }
        List<Evidence> more = new ArrayList<>();
        more.add(cite(ctx, b.file(), j));
        more.addAll(dropper.get());
        Optional<String> comment = j.comment().or(last::comment);
        out.add(
            new Turned(
                name(ctx, comment, d.get()),
                false,
                d.get(),
                cite(ctx, b.file(), last),
                more,
                last));
      }
    }
    return out;
  }

  /**
   * Whether {@code markChain} only sets mark bits that a filter rule drops: then a jump to it is a
   * drop. Returns the evidence (the MARK rule and the filter DROP rule). kube-proxy's own
   * KUBE-MARK-DROP is taken for one when the input lacks the filter table or the chain's rule (a
   * grepped fragment), with an assumption: kubelet writes both at start-up.
   */
  private static Optional<List<Evidence>> markDropper(
      DoctorContext ctx, Backend b, Table nat, Optional<Table> filter, String markChain) {
    List<Rule> marks = nat.rules(markChain);
    List<Evidence> ev = new ArrayList<>();
    long bits = 0;
    for (Rule m : marks) {
      Optional<Long> set = setBits(m);
      if (set.isEmpty()) {
        return Optional.empty();
      }
      bits |= set.get();
      ev.add(cite(ctx, b.file(), m));
    }
    if (bits != 0 && filter.isPresent()) {
      for (Rule f : filter.get().rules()) {
        if (f.target().equals("DROP") && dropsMark(f, bits)) {
          ev.add(cite(ctx, b.file(), f));
          return Optional.of(ev);
        }
      }
    }
    if (markChain.equals("KUBE-MARK-DROP")) {
      ctx.assume(
          "the filter rule that drops packets marked by KUBE-MARK-DROP (kubelet's KUBE-FIREWALL)"
              + " is not in "
              + b.file()
              + ": assumed present");
      return Optional.of(ev);
    }
    return Optional.empty();
  }

  /** The mark bits a {@code -j MARK} rule sets for sure, if that is all it does. */
  private static Optional<Long> setBits(Rule m) {
    if (!m.target().equals("MARK") || !unconditional(m)) {
      return Optional.empty();
    }
    Optional<long[]> x = m.option("--set-xmark").flatMap(o -> mask(o.text()));
    if (x.isPresent()) {
      long v = x.get()[0];
      long k = x.get()[1];
      // --set-xmark V/M clears M then xors V: bits of V inside M end up set.
      return Optional.of(v & k);
    }
    return m.option("--or-mark")
        .flatMap(o -> mask(o.text()))
        .map(a -> a[0])
        .or(() -> m.option("--set-mark").flatMap(o -> mask(o.text())).map(a -> a[0] & a[1]));
  }

  /** Whether {@code f} matches every packet carrying {@code bits} (a {@code -m mark} test only). */
  private static boolean dropsMark(Rule f, long bits) {
    for (Arg a : f.args()) {
      if (a instanceof Arg.Option o && o.module().equals("mark") && o.flag().equals("--mark")) {
        Optional<long[]> vm = mask(o.text());
        if (o.negated() || vm.isEmpty() || vm.get()[0] == 0) {
          return false;
        }
        long v = vm.get()[0];
        long k = vm.get()[1];
        return (bits & k) == v;
      }
    }
    return false;
  }

  /** "0x8000/0x8000" → {value, mask}; a bare value has the full mask. */
  private static Optional<long[]> mask(String s) {
    try {
      String[] p = s.strip().split("/", 2);
      long v = Long.decode(p[0]);
      long k = p.length > 1 ? Long.decode(p[1]) : 0xffffffffL;
      return Optional.of(new long[] {v, k});
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  /** A rule that applies to every packet reaching it (a comment at most). */
  private static boolean unconditional(Rule r) {
    for (Arg a : r.args()) {
      boolean ok =
          a instanceof Arg.Jump
              || (a instanceof Arg.Module m && m.name().equals("comment"))
              || (a instanceof Arg.Option o && (o.module().equals("comment") || o.ofTarget()));
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  /**
   * The Service port a rule applies to: {@code -d VIP} with {@code --dport}, or a NodePort ({@code
   * -m addrtype --dst-type LOCAL}, or any rule of KUBE-NODEPORTS) with {@code --dport}. Empty when
   * the rule names no single port (a chain-wide rule).
   */
  private static Optional<Dest> dest(Rule r, boolean nodePortChain) {
    String proto = r.param("-p").filter(p -> !p.negated()).map(p -> p.value().text()).orElse("");
    Optional<Arg.Option> port = r.option("--dport").filter(o -> !o.negated());
    if (port.isEmpty()) {
      return Optional.empty();
    }
    int n;
    try {
      n = Integer.parseInt(port.get().text());
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
    Optional<String> dst =
        r.param("-d").filter(p -> !p.negated()).map(p -> p.value().text().replace("/32", ""));
    boolean local =
        r.option("--dst-type")
            .filter(o -> !o.negated())
            .map(o -> o.text().equals("LOCAL"))
            .orElse(false);
    if (dst.isEmpty() && !local && !nodePortChain) {
      return Optional.empty();
    }
    return Optional.of(new Dest(dst, proto, n));
  }

  /**
   * A no-endpoint map's key: "10.96.0.10 . udp . 53" (address, protocol, port) or "tcp . 30081"
   * (NodePort).
   */
  private static Optional<Dest> nftDest(Expr key) {
    List<String> parts = new ArrayList<>();
    if (key instanceof Expr.Concat c) {
      c.parts().forEach(p -> parts.add(NftPrinter.expr(p).strip()));
    } else {
      parts.add(NftPrinter.expr(key).strip());
    }
    try {
      if (parts.size() == 3) {
        return Optional.of(
            new Dest(Optional.of(parts.get(0)), parts.get(1), Integer.parseInt(parts.get(2))));
      }
      if (parts.size() == 2) {
        return Optional.of(
            new Dest(Optional.empty(), parts.get(0), Integer.parseInt(parts.get(1))));
      }
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
    return Optional.empty();
  }

  /**
   * The Service port's name: from the cluster's objects by where it applies when they are given,
   * else from the comment's first word when that is a "namespace/name[:port]", else the place
   * itself.
   */
  private static String name(DoctorContext ctx, Optional<String> comment, Dest d) {
    if (ctx.cluster().isPresent()) {
      for (ServicePortInfo s : ctx.cluster().get().services().values()) {
        boolean proto = d.proto().isEmpty() || s.protocol().name().equalsIgnoreCase(d.proto());
        boolean at =
            d.ip().isPresent()
                ? d.port() == s.port()
                    && (d.ip().get().equals(s.clusterIP())
                        || s.externalIPs().contains(d.ip().get())
                        || s.loadBalancerVIPs().contains(d.ip().get()))
                : s.nodePort() == d.port();
        if (proto && at) {
          return s.name().toString();
        }
      }
    }
    if (comment.isPresent()) {
      String w = comment.get().strip().split("\\s+", 2)[0];
      if (w.matches("[a-z0-9]([a-z0-9.-]*[a-z0-9])?/[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[\\w.-]+)?")) {
        return w;
      }
    }
    return d.toString();
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
