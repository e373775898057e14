package dev.svcproxy.lab;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The tracer checked against the kernel: in the demo lab (plus Docker-, flannel- and Calico-style
 * rules written by hand), every case sends a real TCP connection from a pod, a node or an external
 * client, reads what happened (reply, refusal, timeout) and the NAT conntrack chose, and compares
 * it with the trace of the same packet on a bundle captured from the node it enters.
 */
public final class Differential {
  private static final Duration TIMEOUT = Duration.ofSeconds(1);
  public static final int EXT_PORT = 9000;
  public static final int EXT_BLOCKED_PORT = 9001;
  public static final int DOCKER_PORT = 8081;

  /** One packet: who sends it, to where, and which node's bundle traces it. */
  public record Case(
      String from, String netns, String srcIp, String dst, int dport, String traceNode, int sport) {
    public String name() {
      return from + " -> " + dst + ":" + dport + " (traced on " + traceNode + ")";
    }
  }

  /** The comparison of one case. */
  public record Result(
      Case c,
      Connection real,
      List<NodeState.ConntrackEntry> ct,
      TraceResult trace,
      boolean agree,
      String why) {}

  /** A path across nodes: the outcome on the entry node and on the last node it reached. */
  record Path(double probability, Outcome first, Outcome last) {}

  private final DemoCluster cluster;
  private final Lab lab;
  private int nextSport = 21000;

  public Differential(DemoCluster cluster) {
    this.cluster = cluster;
    this.lab = cluster.lab();
  }

  /** Rules other software writes on nodes, so the tracer meets more than kube-proxy's shapes. */
  public void installThirdPartyRules() {
    Lab.Node n1 = lab.node("node1");
    Lab.Node n2 = lab.node("node2");
    String webA = lab.pod("web-a").ip() + ":" + DemoCluster.BACKEND_PORT;
    String forwardDrop =
        "*filter\n-A FORWARD -p tcp -m multiport --dports "
            + EXT_BLOCKED_PORT
            + ",9002 -j DROP\nCOMMIT\n";
    // Docker's -p publishing (a DNAT in its own chain hooked from PREROUTING and OUTPUT) and
    // flannel's pod egress masquerade, on node1.
    restore(
        n1,
        String.join(
                "\n",
                "*nat",
                ":DOCKER - [0:0]",
                ":FLANNEL-POSTRTG - [0:0]",
                "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
                "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
                "-A DOCKER ! -i docker0 -p tcp -m tcp --dport "
                    + DOCKER_PORT
                    + " -j DNAT --to-destination "
                    + webA,
                "-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG",
                "-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN",
                "-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully",
                "COMMIT",
                "")
            + forwardDrop);
    // Calico's nat-outgoing with its IP-pool ipset, on node2.
    lab.in(n2.netns(), "ipset", "create", "cali40masq-ipam-pools", "hash:net");
    lab.in(n2.netns(), "ipset", "add", "cali40masq-ipam-pools", "10.244.0.0/16");
    restore(
        n2,
        "*nat\n-A POSTROUTING -m set --match-set cali40masq-ipam-pools src"
            + " -m set ! --match-set cali40masq-ipam-pools dst -j MASQUERADE\nCOMMIT\n"
            + forwardDrop);
    Lab.Client ext = lab.client("ext");
    lab.startBackend(new Lab.Pod("ext", ext.netns(), ext.ip(), null), EXT_PORT);
    lab.startBackend(new Lab.Pod("ext", ext.netns(), ext.ip(), null), EXT_BLOCKED_PORT);
  }

  private void restore(Lab.Node node, String rules) {
    new IptablesKernel(lab.runner().inNetns(node.netns())).restore(rules).orThrow();
  }

  /** Every source against every destination that source can address. */
  public List<Case> cases() {
    Lab.Node n1 = lab.node("node1");
    Lab.Node n2 = lab.node("node2");
    Lab.Client ext = lab.client("ext");
    record Dst(String ip, int port, boolean clusterOnly) {}
    List<Dst> dsts =
        List.of(
            new Dst(DemoCluster.WEB, 80, true),
            new Dst(DemoCluster.WEB, 81, true),
            new Dst(DemoCluster.WEB_LOCAL, 80, true),
            new Dst(DemoCluster.EMPTY, 80, true),
            new Dst("10.96.0.13", 80, true),
            new Dst(DemoCluster.STICKY, 80, true),
            new Dst(DemoCluster.SELF, 80, true),
            new Dst(lab.pod("web-a").ip(), DemoCluster.BACKEND_PORT, true),
            new Dst(DemoCluster.LB_VIP, 80, false),
            new Dst(DemoCluster.EXTERNAL_IP, 80, false),
            new Dst(n1.ip(), DemoCluster.WEB_NODEPORT, false),
            new Dst(n2.ip(), DemoCluster.WEB_NODEPORT, false),
            new Dst(n1.ip(), DemoCluster.WEB_LOCAL_NODEPORT, false),
            new Dst(n2.ip(), DemoCluster.WEB_LOCAL_NODEPORT, false),
            new Dst(n1.ip(), 30083, false),
            new Dst(n1.ip(), DOCKER_PORT, false),
            new Dst(ext.ip(), EXT_PORT, false),
            new Dst(ext.ip(), EXT_BLOCKED_PORT, false));
    List<Case> out = new ArrayList<>();
    for (String from : List.of("client", "web-a", "web-b", "node1", "node2", "ext", "ext2")) {
      for (Dst d : dsts) {
        String netns;
        String src;
        String node;
        if (lab.pod(from) != null) {
          Lab.Pod p = lab.pod(from);
          netns = p.netns();
          src = p.ip();
          node = p.node().name();
        } else if (lab.node(from) != null) {
          netns = lab.node(from).netns();
          src = null;
          node = from;
        } else {
          if (d.clusterOnly() || d.ip().equals(ext.ip())) {
            continue;
          }
          netns = lab.client(from).netns();
          src = lab.client(from).ip();
          node = d.ip().equals(n2.ip()) ? "node2" : "node1";
        }
        if (d.ip().equals(src)) {
          continue; // A pod talking to its own address never reaches the node.
        }
        out.add(new Case(from, netns, src, d.ip(), d.port(), node, nextSport++));
      }
    }
    return out;
  }

  /** Captures fresh bundles of both nodes. */
  public Map<String, NodeState> bundles() {
    Map<String, NodeState> out = new HashMap<>();
    for (Lab.Node n : lab.nodes()) {
      out.put(
          n.name(), BundleReader.fromFiles(BundleCapture.capture(lab.runner().inNetns(n.netns()))));
    }
    return out;
  }

  /** Runs the cases, logging each disagreement; returns every result. */
  public List<Result> run(List<Case> cases, Map<String, NodeState> bundles, Consumer<String> log) {
    List<Result> out = new ArrayList<>();
    current = bundles;
    for (Case c : cases) {
      Result r = runOne(c, bundles.get(c.traceNode()));
      if (!r.agree()) {
        log.accept("DISAGREE " + c.name() + ": " + r.why());
      }
      out.add(r);
    }
    return out;
  }

  private Map<String, NodeState> current = Map.of();

  private Result runOne(Case c, NodeState node) {
    Connection real = lab.connect(c.netns(), c.dst(), c.dport(), c.sport(), TIMEOUT);
    CommandRunner traceNode = lab.runner().inNetns(lab.node(c.traceNode()).netns());
    CommandResult ctOut =
        traceNode.run(
            "conntrack", "-L", "-p", "tcp", "--orig-port-src", Integer.toString(c.sport()));
    List<NodeState.ConntrackEntry> ct = BundleReader.parseConntrack(ctOut.stdout());
    TraceResult trace =
        new Tracer(node)
            .trace(new PacketSpec(c.srcIp(), c.sport(), c.dst(), c.dport(), "tcp", null));
    String why = compare(real, ct, paths(trace, c.traceNode(), c.sport(), 0));
    return new Result(c, real, ct, trace, why == null, why);
  }

  /**
   * Follows outcomes that leave the entry node toward the other node (as its destination or next
   * hop) by tracing the packet there too, as it arrives on that node's eth0.
   */
  private List<Path> paths(TraceResult first, String nodeName, int sport, int depth) {
    List<Path> out = new ArrayList<>();
    for (Outcome o : first.outcomes()) {
      String next = nextNode(o, nodeName);
      if (next == null || depth > 2) {
        out.add(new Path(o.probability(), o, o));
        continue;
      }
      String[] dst = o.finalDestination().split(":");
      int port = o.snat() != null ? Integer.parseInt(o.snat().split(":")[1]) : sport;
      TraceResult second =
          new Tracer(current.get(next))
              .trace(
                  new PacketSpec(
                      o.finalSource(), port, dst[0], Integer.parseInt(dst[1]), "tcp", "eth0"));
      for (Path p : paths(second, next, port, depth + 1)) {
        out.add(new Path(o.probability() * p.probability(), o, p.last()));
      }
    }
    return out;
  }

  private String nextNode(Outcome o, String from) {
    if (!o.verdict().equals("ACCEPT") || o.delivery().equals("local")) {
      return null;
    }
    String dstIp = o.finalDestination().split(":")[0];
    for (Lab.Node n : lab.nodes()) {
      if (n.name().equals(from)) {
        continue;
      }
      if (dstIp.equals(n.ip())
          || n.podCidr() != null && dev.svcproxy.model.Cidr.parse(n.podCidr()).contains(dstIp)) {
        return n.name();
      }
    }
    return null;
  }

  private boolean labEndpoint(String ipPort) {
    String ip = ipPort.split(":")[0];
    return ip.equals(lab.pod("web-a").ip())
        || ip.equals(lab.pod("web-b").ip())
        || ip.equals(lab.client("ext").ip());
  }

  private static boolean stranded(Outcome o) {
    return o.reply() != null && !o.reply().returnsHere();
  }

  private String compare(Connection real, List<NodeState.ConntrackEntry> ct, List<Path> paths) {
    String summary = summary(paths);
    switch (real.outcome()) {
      case REPLIED -> {
        String backendIp = backendIp(real.backend());
        for (Path p : paths) {
          Outcome o = p.last();
          if (!p.first().verdict().equals("ACCEPT")
              || !o.verdict().equals("ACCEPT")
              || stranded(o)) {
            continue;
          }
          if (!o.finalDestination().split(":")[0].equals(backendIp)
              || !o.finalSource().equals(real.peer())) {
            continue;
          }
          if (!ct.isEmpty()) {
            NodeState.ConntrackEntry e = ct.get(0);
            Outcome f = p.first();
            String kernelDst = e.reply().src() + ":" + e.reply().sport();
            if (!f.finalDestination().equals(kernelDst)
                || !f.finalSource().equals(e.reply().dst())) {
              continue;
            }
          }
          return null;
        }
        return "kernel: "
            + real
            + (ct.isEmpty() ? "" : " conntrack " + ct.get(0))
            + "; trace: "
            + summary;
      }
      case REFUSED -> {
        boolean ok =
            paths.stream()
                .map(Path::last)
                .anyMatch(
                    o ->
                        o.verdict().equals("REJECT")
                            || o.verdict().equals("ACCEPT") && o.delivery().equals("local"));
        return ok ? null : "kernel: refused; trace: " + summary;
      }
      case TIMED_OUT -> {
        boolean ok =
            paths.stream()
                .map(Path::last)
                .anyMatch(
                    o ->
                        o.verdict().equals("DROP")
                            || o.verdict().equals("ACCEPT")
                                && !o.delivery().equals("local")
                                && !labEndpoint(o.finalDestination())
                            || o.verdict().equals("ACCEPT") && stranded(o));
        return ok ? null : "kernel: timed out; trace: " + summary;
      }
      default -> {
        boolean ok = paths.stream().map(Path::last).anyMatch(o -> !o.verdict().equals("ACCEPT"));
        return ok ? null : "kernel: " + real + "; trace: " + summary;
      }
    }
  }

  private String backendIp(String name) {
    if (name.equals("ext")) {
      return lab.client("ext").ip();
    }
    return lab.pod(name).ip();
  }

  private static String summary(List<Path> ps) {
    StringBuilder b = new StringBuilder();
    for (Path p : ps) {
      Outcome o = p.last();
      b.append(
          String.format(
              "[p=%.2f %s dst=%s src=%s %s%s%s] ",
              p.probability(),
              o.verdict(),
              o.finalDestination(),
              o.finalSource(),
              o.delivery(),
              stranded(o) ? " reply-stranded" : "",
              p.first() == o ? "" : " via " + p.first().finalDestination()));
    }
    return b.toString();
  }
}
