package dev.svcproxy.trace.engine;

import dev.svcproxy.ipvs.IpvsConnection;
import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.ipvs.IpvsadmCodec;
import dev.svcproxy.ipvs.RealServer;
import dev.svcproxy.ipvs.VirtualServer;
import dev.svcproxy.model.Ip;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.Verdict;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * IPVS at the hooks the kernel registers it on (net/netfilter/ipvs/ip_vs_core.c, ip_vs_ops4):
 * requests at INPUT NAT_SRC-1 (after filter INPUT, for packets routing made local: a VIP on
 * kube-ipvs0) and at OUTPUT NAT_DST+2 (packets the node creates, after nat OUTPUT); replies at
 * INPUT NAT_SRC-2, OUTPUT NAT_DST+1 and FORWARD NAT_SRC. A request to a virtual server is pinned by
 * a connection entry or persistence template, else scheduled: one path per real server with weight
 * above 0, with the scheduler's share. Masquerading rewrites the destination; from INPUT the packet
 * is then sent through OUTPUT and POSTROUTING (ip_vs_nat_xmit, ip_vs_nat_send_or_cont), from OUTPUT
 * it goes on through the rest of OUTPUT.
 */
record IpvsHook(Hook hook, int priority, boolean request) implements HookParticipant {

  /**
   * The IPVS connection a packet belongs to: virtual address and port, real server, and how it is
   * forwarded as xt_ipvs names it (MASQ, GATE, IPIP).
   */
  record Binding(String vaddr, int vport, String daddr, int dport, String method) {}

  /**
   * The hooks of a node with IPVS services; none without (the kernel registers its hooks with the
   * first service of a namespace).
   */
  static List<HookParticipant> participants(IpvsTable table) {
    if (table.services().isEmpty()) {
      return List.of();
    }
    return List.of(
        new IpvsHook(Hook.INPUT, Priority.IPVS_REPLY_INPUT, false),
        new IpvsHook(Hook.INPUT, Priority.IPVS_REQUEST_INPUT, true),
        new IpvsHook(Hook.OUTPUT, Priority.IPVS_REPLY_OUTPUT, false),
        new IpvsHook(Hook.OUTPUT, Priority.IPVS_REQUEST_OUTPUT, true),
        new IpvsHook(Hook.FORWARD, Priority.IPVS_REPLY_FORWARD, false));
  }

  @Override
  public String name() {
    return request ? "ipvs" : "ipvs reply";
  }

  @Override
  public List<Branch> run(List<Branch> in, TraceRun run, List<Branch> done) {
    List<Branch> out = new ArrayList<>();
    for (Branch b : in) {
      if (!request) {
        reply(b);
        out.add(b);
      } else if (b.replyDirection || b.ipvsBinding != null) {
        out.add(b);
      } else {
        request(b, run, done, out);
      }
    }
    return out;
  }

  /** ip_vs_out: the reply of an IPVS connection gets the virtual address back as its source. */
  private void reply(Branch b) {
    Binding c = b.ipvsBinding;
    if (!b.replyDirection || c == null || !b.src.equals(c.daddr()) || b.sport != c.dport()) {
      return;
    }
    b.src = c.vaddr();
    b.sport = c.vport();
    b.step(
        Step.note(
            StepKind.IPVS,
            hook.name(),
            "IPVS reply of "
                + c.vaddr()
                + ":"
                + c.vport()
                + " from real server "
                + c.daddr()
                + ":"
                + c.dport()
                + ": source rewritten back to "
                + c.vaddr()
                + ":"
                + c.vport()));
  }

  private void request(Branch b, TraceRun run, List<Branch> done, List<Branch> out) {
    IpvsTable table = run.node.ipvs();
    IpvsService svc = find(table, b);
    if (svc == null) {
      if (hook == Hook.INPUT && hasAddress(table, b.dst)) {
        b.step(
            Step.note(
                StepKind.IPVS,
                hook.name(),
                "IPVS: no virtual server for "
                    + b.proto.toUpperCase(Locale.ROOT)
                    + " "
                    + b.dst
                    + ":"
                    + b.dport
                    + " (the address has other ports): not IPVS's, it goes on to the local"
                    + " stack"));
      }
      out.add(b);
      return;
    }
    VirtualServer vs = svc.server();
    String vsText = String.join(" ", IpvsadmCodec.addService(vs));
    b.step(
        new Step(
            StepKind.IPVS,
            hook.name(),
            "ipvs",
            vs.key(),
            0,
            vsText,
            "virtual server " + vs.key() + " (scheduler " + vs.scheduler() + ") takes the packet"));
    // An existing connection (or a conntrack entry of one) keeps its real server.
    String[] pin = pinnedByEntry(run, svc, b);
    if (pin == null && b.proto.equals("tcp") && !b.ctState.equals("NEW")) {
      b.step(
          Step.note(
              StepKind.IPVS,
              hook.name(),
              "not a connection's first packet (no SYN) and no IPVS connection entry: IPVS"
                  + " schedules only a SYN (tcp_conn_schedule); the packet goes on to the local"
                  + " stack"));
      out.add(b);
      return;
    }
    if (pin == null && vs.persistenceTimeout() > 0) {
      pin = pinnedByTemplate(run, svc, b);
    }
    List<RealServer> candidates = new ArrayList<>();
    List<Outcome.Share> shares = new ArrayList<>();
    String pinnedBy = "";
    if (pin != null) {
      RealServer rs = realServer(svc, pin[0], Integer.parseInt(pin[1]));
      pinnedBy = pin[2];
      candidates.add(rs);
      shares.add(new Outcome.Share(rs.target(), rs.weight(), 1.0));
    } else {
      shares.addAll(shares(vs, svc.reals(), run));
      for (Outcome.Share s : shares) {
        if (s.probability() > 0) {
          candidates.add(
              svc.reals().stream()
                  .filter(r -> r.target().equals(s.realServer()))
                  .findFirst()
                  .get());
        }
      }
    }
    if (candidates.isEmpty()) {
      b.ipvs = new Outcome.Ipvs(hook.name(), vs.key(), vs.scheduler(), "", "", shares);
      b.step(
          new Step(
              StepKind.IPVS,
              hook.name(),
              "ipvs",
              vs.key(),
              0,
              vsText,
              "no real server with weight above 0: the scheduler finds none (ip_vs_schedule),"
                  + " and ip_vs_leave answers ICMP port unreachable and drops the packet",
              ReasonCode.IPVS_NO_REAL_SERVER));
      run.end(b, Verdict.REJECT, ReasonCode.IPVS_NO_REAL_SERVER, done);
      return;
    }
    for (int i = 0; i < candidates.size(); i++) {
      RealServer rs = candidates.get(i);
      double p = pin != null ? 1.0 : share(shares, rs);
      Branch x = i == candidates.size() - 1 ? b : b.copy();
      x.probability *= p;
      int index = svc.reals().indexOf(rs) + 1;
      String why =
          pin != null
              ? pinnedBy + " pins it to " + rs.target()
              : String.format(
                  Locale.ROOT,
                  "%s chose %s (p=%.4f%s)",
                  vs.scheduler(),
                  rs.target(),
                  p,
                  describeShares(shares, rs));
      x.step(
          new Step(
              StepKind.IPVS,
              hook.name(),
              "ipvs",
              vs.key(),
              index,
              String.join(" ", IpvsadmCodec.addReal(vs, rs)),
              why));
      x.ipvs =
          new Outcome.Ipvs(hook.name(), vs.key(), vs.scheduler(), rs.target(), pinnedBy, shares);
      xmit(x, rs, run, done, out);
    }
  }

  private static String describeShares(List<Outcome.Share> shares, RealServer chosen) {
    StringBuilder s = new StringBuilder();
    for (Outcome.Share o : shares) {
      if (o.realServer().equals(chosen.target())) {
        continue;
      }
      s.append(
          String.format(
              Locale.ROOT,
              "; %s weight %d%s",
              o.realServer(),
              o.weight(),
              o.probability() > 0
                  ? String.format(Locale.ROOT, " p=%.4f", o.probability())
                  : ": never chosen for new connections"));
    }
    return s.toString();
  }

  private static double share(List<Outcome.Share> shares, RealServer rs) {
    return shares.stream()
        .filter(s -> s.realServer().equals(rs.target()))
        .mapToDouble(Outcome.Share::probability)
        .findFirst()
        .orElse(0);
  }

  /**
   * Every real server's share of new connections: rr takes each server with weight above 0 in turn
   * (equal shares), wrr in proportion to weight, fo the first of the highest weight; weight 0 is
   * never chosen. Other schedulers decide by the live load or a hash the bundle cannot show: their
   * shares are in proportion to weight, and a warning says so.
   */
  static List<Outcome.Share> shares(VirtualServer vs, List<RealServer> reals, TraceRun run) {
    List<RealServer> live = reals.stream().filter(r -> r.weight() > 0).toList();
    long total = live.stream().mapToLong(RealServer::weight).sum();
    RealServer fo = live.stream().reduce((a, c) -> c.weight() > a.weight() ? c : a).orElse(null);
    if (!List.of("rr", "wrr", "fo").contains(vs.scheduler()) && live.size() > 1) {
      run.warnings.add(
          "IPVS scheduler "
              + vs.scheduler()
              + " of "
              + vs.key()
              + " decides by live load or a hash the bundle does not show: its real servers are"
              + " shown in proportion to their weights");
    }
    List<Outcome.Share> out = new ArrayList<>();
    for (RealServer r : reals) {
      double p;
      if (r.weight() == 0) {
        p = 0;
      } else if (vs.scheduler().equals("rr")) {
        p = 1.0 / live.size();
      } else if (vs.scheduler().equals("fo")) {
        p = r == fo ? 1.0 : 0;
      } else {
        p = (double) r.weight() / total;
      }
      out.add(new Outcome.Share(r.target(), r.weight(), p));
    }
    return out;
  }

  /**
   * Sends the packet to the real server: masquerading rewrites the destination (a real server port
   * 0 keeps it); the route to the real server decides the rest. From INPUT a local real server gets
   * it through the rest of INPUT (NF_ACCEPT), another is sent through OUTPUT and POSTROUTING; from
   * OUTPUT the packet goes on through OUTPUT, routed to the real server.
   */
  private void xmit(Branch x, RealServer rs, TraceRun run, List<Branch> done, List<Branch> out) {
    x.ipvsBinding =
        new Binding(
            x.dst,
            x.dport,
            rs.address(),
            rs.port() == 0 ? x.dport : rs.port(),
            switch (rs.method()) {
              case MASQ -> "MASQ";
              case ROUTE -> "GATE";
              case TUNNEL -> "IPIP";
            });
    if (rs.method() == RealServer.ForwardMethod.MASQ) {
      x.dst = rs.address();
      if (rs.port() != 0) {
        x.dport = rs.port();
      }
      x.dnatDone = true;
    } else {
      x.step(
          Step.note(
              StepKind.IPVS,
              hook.name(),
              (rs.method() == RealServer.ForwardMethod.ROUTE ? "direct routing" : "tunnelling")
                  + ": the destination stays "
                  + x.dst
                  + "; the packet is sent to "
                  + rs.address()));
    }
    String ct = run.node.sysctls().get("net.ipv4.vs.conntrack");
    if (ct == null) {
      run.warnings.add(
          "net.ipv4.vs.conntrack not in the bundle: assumed 1, as kube-proxy sets it (IPVS"
              + " connections keep their conntrack entries, so nat POSTROUTING sees them)");
    } else if (!ct.strip().equals("1")) {
      x.ctState = "UNTRACKED";
      x.natDecided = true;
      x.step(
          Step.note(
              StepKind.IPVS,
              hook.name(),
              "net.ipv4.vs.conntrack=0: IPVS detaches the packet from conntrack (ip_vs_notrack):"
                  + " nat POSTROUTING does not see it, so no MASQUERADE applies"));
    }
    if (hook == Hook.OUTPUT) {
      out.add(x);
      return;
    }
    Routing.Decision d = run.routing.lookup(rs.address(), x.src, "", x.mark);
    x.step(
        Step.note(
            StepKind.ROUTE,
            "routing",
            "IPVS routes to the real server " + rs.address() + ": " + d.describe(),
            d.usable() ? null : ReasonCode.NO_ROUTE));
    if (!d.usable()) {
      run.end(x, Verdict.DROP, ReasonCode.NO_ROUTE, done);
    } else if (d.local()) {
      out.add(x);
    } else {
      x.outIface = d.dev();
      x.ipvsForwarded = true;
      PacketPaths.ipvsForwarded(x, run, done);
    }
  }

  /**
   * ip_vs_service_find: a fwmark service by the packet's mark first, then proto/VIP/port, then port
   * 0.
   */
  static IpvsService find(IpvsTable table, Branch b) {
    if (b.mark != 0) {
      for (IpvsService s : table.services()) {
        if (s.server().kind() == VirtualServer.Kind.FWMARK && s.server().fwmark() == b.mark) {
          return s;
        }
      }
    }
    VirtualServer.Kind kind =
        switch (b.proto) {
          case "tcp" -> VirtualServer.Kind.TCP;
          case "udp" -> VirtualServer.Kind.UDP;
          case "sctp" -> VirtualServer.Kind.SCTP;
          default -> null;
        };
    if (kind == null) {
      return null;
    }
    return table.find(kind, b.dst, b.dport).or(() -> table.find(kind, b.dst, 0)).orElse(null);
  }

  private static boolean hasAddress(IpvsTable table, String ip) {
    return table.services().stream().anyMatch(s -> s.server().address().equals(ip));
  }

  /** A connection entry of this very connection (client address and port), or a conntrack hint. */
  private static String[] pinnedByEntry(TraceRun run, IpvsService svc, Branch b) {
    for (IpvsConnection c : run.node.ipvsConnections()) {
      if (!c.template()
          && c.protocol().equalsIgnoreCase(b.proto)
          && c.clientAddress().equals(b.src)
          && c.clientPort() == b.sport
          && c.virtualAddress().equals(b.dst)
          && c.virtualPort() == b.dport
          && realServer(svc, c.destinationAddress(), c.destinationPort()) != null) {
        return new String[] {
          c.destinationAddress(),
          Integer.toString(c.destinationPort()),
          "the connection entry " + c.describe() + " (" + c.state() + ")"
        };
      }
    }
    if (b.ctIpvsDest != null
        && realServer(svc, b.ctIpvsDest[0], Integer.parseInt(b.ctIpvsDest[1])) != null) {
      return new String[] {
        b.ctIpvsDest[0], b.ctIpvsDest[1], "the conntrack entry of this connection"
      };
    }
    return null;
  }

  /**
   * ip_vs_sched_persist: the template of the client's network (source masked by the service's
   * netmask) keeps the real server, unless that server has weight 0 and
   * net.ipv4.vs.expire_quiescent_template=1 expires the template (ip_vs_check_template).
   */
  private static String[] pinnedByTemplate(TraceRun run, IpvsService svc, Branch b) {
    VirtualServer vs = svc.server();
    String mask = vs.persistenceNetmask().isEmpty() ? "255.255.255.255" : vs.persistenceNetmask();
    String net = Ip.longToIpv4(Ip.ipv4ToLong(b.src) & Ip.ipv4ToLong(mask));
    boolean fwm = vs.kind() == VirtualServer.Kind.FWMARK;
    String proto = fwm ? "IP" : vs.kind().name();
    String vaddr = fwm ? Ip.longToIpv4(vs.fwmark()) : vs.address();
    int vport = fwm ? 0 : vs.port();
    boolean expireQuiescent =
        "1".equals(run.node.sysctls().get("net.ipv4.vs.expire_quiescent_template"));
    for (IpvsConnection c : run.node.ipvsConnections()) {
      if (!c.template()
          || !c.protocol().equals(proto)
          || !c.clientAddress().equals(net)
          || !c.virtualAddress().equals(vaddr)
          || c.virtualPort() != vport) {
        continue;
      }
      RealServer rs = realServer(svc, c.destinationAddress(), c.destinationPort());
      if (rs == null || rs.weight() == 0 && expireQuiescent) {
        continue;
      }
      return new String[] {
        c.destinationAddress(),
        Integer.toString(c.destinationPort()),
        "the persistence template "
            + c.describe()
            + " ("
            + vs.persistenceTimeout()
            + " s persistence)"
      };
    }
    return null;
  }

  private static RealServer realServer(IpvsService svc, String address, int port) {
    return svc.reals().stream()
        .filter(r -> r.address().equals(address) && r.port() == port)
        .findFirst()
        .orElse(null);
  }
}
