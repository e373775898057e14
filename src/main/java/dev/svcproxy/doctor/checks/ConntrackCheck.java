package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.Check;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.Severity;
import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.ipvs.VirtualServer;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.trace.NodeState;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/** Connection tracking: stale UDP entries, a full table, INVALID packets being dropped. */
public final class ConntrackCheck implements Check {
  static final Catalogue.Entry STALE_UDP_CONNTRACK =
      new Catalogue.Entry(
          "stale-udp-conntrack",
          Severity.ERROR,
          "A UDP conntrack entry pins a flow to a gone endpoint or to no DNAT at all",
          List.of(
              "kubernetes/kubernetes#19029",
              "kubernetes/kubernetes#48370",
              "kubernetes/kubernetes#125467"));
  static final Catalogue.Entry CONNTRACK_TABLE_FULL =
      new Catalogue.Entry(
          "conntrack-table-full",
          Severity.ERROR,
          "The conntrack table is full: new connections are dropped",
          List.of("kubernetes/kubernetes#18604"));
  static final Catalogue.Entry CONNTRACK_INVALID_DROP =
      new Catalogue.Entry(
          "conntrack-invalid-drop",
          Severity.WARNING,
          "Packets conntrack marks INVALID are being dropped (nf_conntrack_tcp_be_liberal=0)",
          List.of(
              "kubernetes/kubernetes#74839",
              "kubernetes/kubernetes#94861",
              "kubernetes/kubernetes#117924",
              "kubernetes/kubernetes#120412"));

  private static final String COUNT = "net.netfilter.nf_conntrack_count";
  private static final String MAX = "net.netfilter.nf_conntrack_max";
  private static final String LIBERAL = "net.netfilter.nf_conntrack_tcp_be_liberal";

  /** {@code conntrack -S}: the kernel's per-CPU conntrack counters of the namespace. */
  private static final String STATS = "conntrack-stats.txt";

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(STALE_UDP_CONNTRACK, CONNTRACK_TABLE_FULL, CONNTRACK_INVALID_DROP);
  }

  @Override
  public List<Finding> run(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    out.addAll(staleUdp(ctx));
    tableFull(ctx).ifPresent(out::add);
    invalidDrop(ctx).ifPresent(out::add);
    return out;
  }

  /**
   * A UDP entry to a Service port keeps its first packet's NAT decision for as long as the client
   * keeps sending from the same port: an entry whose reply source is not among the Service's
   * current endpoints (or is the VIP itself: no DNAT) will never reach a live endpoint.
   */
  private static List<Finding> staleUdp(DoctorContext ctx) {
    NodeState node = ctx.node();
    if (!ctx.files().has("conntrack.txt")) {
      ctx.assume("no conntrack.txt: stale UDP conntrack entries not checked");
      return List.of();
    }
    List<Finding> out = new ArrayList<>();
    List<NodeModel.ServiceRule> services =
        NodeModel.serviceRules(node).stream().filter(s -> s.proto().equals("udp")).toList();
    boolean anySource =
        !services.isEmpty()
            || node.ipvs().services().stream()
                .anyMatch(v -> v.server().kind() == VirtualServer.Kind.UDP)
            || ctx.cluster().isPresent();
    if (!anySource && node.conntrack().stream().anyMatch(c -> c.proto().equals("udp"))) {
      ctx.assume(
          "no Service endpoints known (no KUBE-SEP rules, IPVS real servers or cluster objects):"
              + " stale UDP conntrack entries not checked");
    }
    for (NodeState.ConntrackEntry c : node.conntrack()) {
      if (!c.proto().equals("udp") || c.original() == null || c.reply() == null) {
        continue;
      }
      NodeState.Tuple o = c.original();
      Optional<Known> known = known(ctx, services, o);
      if (known.isEmpty()) {
        continue;
      }
      List<Endpoint> eps = known.get().endpoints();
      if (eps.isEmpty()) {
        continue; // no endpoints: the no-endpoints check speaks; nothing better to pin it to
      }
      String to = c.reply().src();
      int toPort = c.reply().sport();
      boolean current =
          eps.stream().anyMatch(e -> e.ip().equals(to) && (e.port() == 0 || e.port() == toPort));
      if (current) {
        continue;
      }
      boolean noDnat = to.equals(o.dst());
      String endpoints =
          eps.stream()
              .map(e -> e.ip() + (e.port() > 0 ? ":" + e.port() : ""))
              .distinct()
              .collect(Collectors.joining(", "));
      String clear =
          "conntrack -D -p udp -s "
              + o.src()
              + " -d "
              + o.dst()
              + " --sport "
              + o.sport()
              + " --dport "
              + o.dport();
      List<Evidence> ev = new ArrayList<>();
      ev.add(entryLine(ctx, c));
      ev.addAll(known.get().evidence());
      out.add(
          STALE_UDP_CONNTRACK.finding(
              "UDP flow "
                  + o.src()
                  + ":"
                  + o.sport()
                  + " → "
                  + o.dst()
                  + ":"
                  + o.dport()
                  + (noDnat
                      ? " is tracked without DNAT"
                      : " is pinned to " + to + ":" + toPort + ", no longer an endpoint")
                  + " (endpoints now: "
                  + endpoints
                  + ")",
              ev,
              "conntrack decides NAT for the first packet only; later packets of the same UDP"
                  + " 5-tuple follow the entry, and each one refreshes its timeout. A client that"
                  + " keeps sending from the same port (DNS resolvers, statsd, VXLAN) keeps"
                  + (noDnat
                      ? " sending to the VIP itself, which nothing answers (the entry was made"
                          + " before the Service had endpoints)"
                      : " sending to the gone endpoint")
                  + ": its requests time out until it changes source port or the entry is"
                  + " deleted. kube-proxy deletes such entries when endpoints change; this one"
                  + " survived.",
              "Delete the entry: "
                  + clear
                  + " (or every stale one of the Service: conntrack -D -p udp -d "
                  + o.dst()
                  + " --dport "
                  + o.dport()
                  + "). Check that kube-proxy runs and has the conntrack binary."));
    }
    return out;
  }

  /** An endpoint of a Service port (port 0: any). */
  private record Endpoint(String ip, int port) {}

  /** A UDP Service port's current endpoints, with what shows them. */
  private record Known(List<Endpoint> endpoints, List<Evidence> evidence) {}

  /**
   * The current endpoints of the UDP Service port {@code o} is addressed to, from the first source
   * that has it: kube-proxy's iptables rules (KUBE-SVC/KUBE-SEP), the IPVS virtual server's real
   * servers, the cluster's objects (manifests, cluster.json or pasted kubectl output).
   */
  private static Optional<Known> known(
      DoctorContext ctx, List<NodeModel.ServiceRule> services, NodeState.Tuple o) {
    NodeState node = ctx.node();
    Optional<NodeModel.ServiceRule> svc =
        services.stream().filter(s -> s.vip().equals(o.dst()) && s.port() == o.dport()).findFirst();
    if (svc.isPresent()) {
      List<NodeModel.EndpointRule> eps = NodeModel.endpointsOf(node, svc.get().chain());
      List<Evidence> ev = new ArrayList<>();
      ev.add(NodeModel.cite(ctx.files(), svc.get().rule()));
      eps.stream()
          .map(NodeModel.EndpointRule::rule)
          .distinct()
          .limit(5)
          .forEach(r -> ev.add(NodeModel.cite(ctx.files(), r)));
      return Optional.of(
          new Known(eps.stream().map(e -> new Endpoint(e.ip(), e.port())).toList(), ev));
    }
    for (IpvsService v : node.ipvs().services()) {
      VirtualServer vs = v.server();
      if (vs.kind() == VirtualServer.Kind.UDP
          && vs.address().equals(o.dst())
          && vs.port() == o.dport()) {
        List<Evidence> ev = new ArrayList<>();
        ev.add(IpvsFacts.virtualServer(ctx, v));
        String head = "-a " + vs.kind().option() + " " + vs.target() + " ";
        ev.addAll(
            ctx.files().find("ipvsadm-save.txt", l -> l.strip().startsWith(head)).stream()
                .limit(5)
                .toList());
        return Optional.of(
            new Known(
                v.reals().stream().map(r -> new Endpoint(r.address(), r.port())).toList(), ev));
      }
    }
    if (ctx.cluster().isPresent()) {
      ProxyState st = ctx.cluster().get();
      for (ServicePortInfo sp : st.services().values()) {
        if (sp.protocol().lower().equals("udp")
            && sp.clusterIP().equals(o.dst())
            && sp.port() == o.dport()) {
          List<Endpoint> eps =
              st.endpointsOf(sp.name()).stream()
                  .filter(e -> e.ready())
                  .map(e -> new Endpoint(e.ip(), e.port()))
                  .toList();
          String shown =
              eps.stream().map(e -> e.ip() + ":" + e.port()).collect(Collectors.joining(", "));
          return Optional.of(
              new Known(
                  eps,
                  List.of(
                      new Evidence(
                          "the cluster's objects",
                          "Service "
                              + sp.name()
                              + " "
                              + sp.clusterIP()
                              + ":"
                              + sp.port()
                              + "/UDP, endpoints: "
                              + (shown.isEmpty() ? "none" : shown)))));
        }
      }
    }
    return Optional.empty();
  }

  private static Evidence entryLine(DoctorContext ctx, NodeState.ConntrackEntry c) {
    NodeState.Tuple o = c.original();
    String key =
        "src=" + o.src() + " dst=" + o.dst() + " sport=" + o.sport() + " dport=" + o.dport();
    // By the line's parsed original tuple: `conntrack -L` lines start with "udp" (no "ipv4 2"
    // before it), and "dport=53" must not match "dport=5353".
    return ctx.files()
        .first("conntrack.txt", l -> isUdpEntryOf(l, o))
        .orElse(ctx.files().at("conntrack.txt", 0, "udp " + key));
  }

  /** Whether {@code line} is a UDP entry whose first (original) tuple is {@code o}. */
  private static boolean isUdpEntryOf(String line, NodeState.Tuple o) {
    List<String> w = List.of(line.strip().split("\\s+"));
    return w.contains("udp")
        && o.src().equals(firstValue(w, "src="))
        && o.dst().equals(firstValue(w, "dst="))
        && String.valueOf(o.sport()).equals(firstValue(w, "sport="))
        && String.valueOf(o.dport()).equals(firstValue(w, "dport="));
  }

  private static String firstValue(List<String> words, String key) {
    return words.stream()
        .filter(x -> x.startsWith(key))
        .findFirst()
        .map(x -> x.substring(key.length()))
        .orElse(null);
  }

  private static Optional<Finding> tableFull(DoctorContext ctx) {
    NodeState node = ctx.node();
    String count = NodeModel.value(node.sysctls(), COUNT);
    String max = NodeModel.value(node.sysctls(), MAX);
    if (count == null || max == null || !count.matches("\\d{1,12}") || !max.matches("\\d{1,12}")) {
      if (!node.sysctls().isEmpty()) {
        ctx.assume("nf_conntrack_count/nf_conntrack_max unknown: conntrack table use not checked");
      }
      return Optional.empty();
    }
    long n = Long.parseLong(count);
    long m = Long.parseLong(max);
    if (m <= 0 || n * 10 < m * 9) {
      return Optional.empty();
    }
    boolean full = n >= m;
    Drops drops = drops(ctx);
    List<Evidence> ev = new ArrayList<>();
    ev.add(NodeModel.sysctl(ctx.files(), COUNT, count));
    ev.add(NodeModel.sysctl(ctx.files(), MAX, max));
    ev.addAll(drops.lines());
    return Optional.of(
        CONNTRACK_TABLE_FULL.finding(
            full || drops.dropped() > 0 ? Severity.ERROR : Severity.WARNING,
            "conntrack holds "
                + n
                + " of at most "
                + m
                + " entries"
                + (full ? ": the table is full" : " (" + (n * 100 / m) + "%)")
                + (drops.dropped() > 0
                    ? "; the kernel dropped "
                        + drops.dropped()
                        + " packet(s) it could not track (drop in conntrack -S)"
                    : ""),
            ev,
            "Every new connection needs a conntrack entry. With the table full the kernel first"
                + " evicts an unreplied entry, and when there is none it drops the packet"
                + " ('nf_conntrack: table full, dropping packet' in dmesg, counted as drop in"
                + " conntrack -S): new connections to Services, NodePorts and pods time out at"
                + " random while established ones carry on.",
            "Raise the limit: sysctl -w "
                + MAX
                + "=<larger> (kube-proxy's --conntrack-max-per-core/--conntrack-min set it at"
                + " start), and look for what fills the table (conntrack -L | sort by source),"
                + " e.g. a UDP flood, many short connections in TIME_WAIT or idle long-lived"
                + " ones."));
  }

  /** The kernel's per-CPU conntrack counters ({@code conntrack -S}) that show packets dropped. */
  private record Drops(long dropped, List<Evidence> lines) {}

  private static final Pattern DROP = Pattern.compile("(?<![\\w])drop=(\\d{1,18})\\b");
  private static final Pattern EARLY_DROP = Pattern.compile("(?<![\\w])early_drop=(\\d{1,18})\\b");

  /**
   * The {@code cpu=N ... drop=D early_drop=E} lines of conntrack-stats.txt with D or E above zero.
   * The counters are the namespace's, cumulative since it was made: alone they say the table was
   * full once, not that it is now, so they only back a count near the limit.
   */
  private static Drops drops(DoctorContext ctx) {
    List<Evidence> lines =
        ctx.files().find(STATS, l -> counter(DROP, l) > 0 || counter(EARLY_DROP, l) > 0);
    long dropped = 0;
    for (Evidence e : lines) {
      dropped += counter(DROP, e.text());
    }
    return new Drops(dropped, lines);
  }

  private static long counter(Pattern p, String line) {
    Matcher m = p.matcher(line);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }

  /**
   * kube-proxy's `--ctstate INVALID -j DROP` (installed while be_liberal is 0) drops what conntrack
   * cannot place in a TCP window; on asymmetric or multi-homed paths that is legitimate traffic.
   * Only counters show it is happening, so only counters make a finding.
   */
  private static Optional<Finding> invalidDrop(DoctorContext ctx) {
    NodeState node = ctx.node();
    List<Rule> drops =
        NodeModel.rules(node, "filter").stream()
            .filter(r -> r.target().equals("DROP"))
            .filter(
                r ->
                    r.option("--ctstate")
                        .map(o -> !o.negated() && Set.of(o.text().split(",")).contains("INVALID"))
                        .orElse(false))
            .toList();
    if (drops.isEmpty()) {
      return Optional.empty();
    }
    String liberal = NodeModel.value(node.sysctls(), LIBERAL);
    if (liberal == null) {
      ctx.assume(LIBERAL + " unknown: assumed 0 (the kernel's default)");
    } else if (!liberal.equals("0")) {
      return Optional.empty();
    }
    long dropped = 0;
    List<Rule> counted = new ArrayList<>();
    for (Rule r : drops) {
      long p = packets(r);
      if (p > 0) {
        dropped += p;
        counted.add(r);
      }
    }
    if (counted.isEmpty()) {
      return Optional.empty();
    }
    List<Evidence> ev = new ArrayList<>();
    // The counters are the evidence here: shown as iptables-save -c prints them (live: the
    // command with -c, which the capture ran; the line numbers are the same without it).
    for (Rule r : counted) {
      Evidence line = NodeModel.cite(ctx.files(), r);
      String where = line.where().replaceFirst("^(\\$ iptables(-legacy)?-save) ", "$1 -c ");
      ev.add(new Evidence(where, r.counters() + " " + line.text()));
    }
    ev.add(NodeModel.sysctl(ctx.files(), LIBERAL, liberal == null ? "0" : liberal));
    return Optional.of(
        CONNTRACK_INVALID_DROP.finding(
            dropped + " packet(s) were dropped as conntrack state INVALID",
            ev,
            "conntrack marks a TCP segment INVALID when it falls outside the window it tracked"
                + " (retransmits after a long pause, window scaling it did not see, a path that"
                + " showed it only one direction). kube-proxy drops INVALID packets so they cannot"
                + " reach a pod un-NATed and draw a reset; on multi-homed or asymmetric paths the"
                + " same rule drops legitimate segments and the connection stalls.",
            "sysctl -w "
                + LIBERAL
                + "=1 (conntrack then accepts out-of-window segments; kube-proxy 1.29+ leaves its"
                + " INVALID drop rule out when it is set, see --conntrack-tcp-be-liberal), and"
                + " make the path symmetric where you can. The counters count since the rule was"
                + " made: to see whether drops go on, zero them (iptables -Z "
                + counted.get(0).chain()
                + ") and capture again after traffic."));
  }

  private static long packets(Rule r) {
    String c = r.counters();
    if (c == null || !c.matches("\\[\\d{1,18}:\\d{1,18}\\]")) {
      return 0;
    }
    return Long.parseLong(c.substring(1, c.indexOf(':')));
  }
}
