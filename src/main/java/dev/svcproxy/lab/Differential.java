package dev.svcproxy.lab;

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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * The tracer checked against the kernel: in the demo lab (plus Docker-, flannel- and Calico-style
 * rules written by hand), every case sends a real TCP connection from a pod, a node or an external
 * client, reads what happened (reply, refusal, timeout) and the NAT conntrack chose, and compares
 * it with the trace of the same packet on a bundle captured from the node it enters. The rules do
 * not depend on the proxy mode: the kernel chooses at random in a statistic rule (iptables mode) or
 * a numgen random verdict map (nftables mode), and by its scheduler in an IPVS virtual server (IPVS
 * mode, {@link DifferentialIpvsLab}); ClientIP affinity is a recent list, an nft set the endpoint
 * chain updates with the client's address, or a persistence template.
 */
public final class Differential {
  private static final Duration TIMEOUT = Duration.ofSeconds(1);
  public static final int EXT_PORT = 9000;
  public static final int EXT_BLOCKED_PORT = 9001;
  public static final int DOCKER_PORT = 8081;

  /** A destination a source may address. */
  public record Dst(String ip, int port, boolean clusterOnly) {}

  /** One packet: who sends it, to where, and which node's bundle traces it. */
  public record Case(
      String from, String netns, String srcIp, String dst, int dport, String traceNode, int sport) {
    public String name() {
      return from + " -> " + dst + ":" + dport + " (traced on " + traceNode + ")";
    }
  }

  /**
   * The comparison of one case.
   *
   * @param outcomes how many ways the trace says the connection can end (paths across nodes)
   * @param connections how many connections were sent: one where the kernel has no choice, {@link
   *     #SAMPLES} where a statistic rule chooses, twice the real servers where IPVS's rr does
   * @param seen what the kernel did with them, for people
   */
  public record Result(
      Case c,
      Connection real,
      List<NodeState.ConntrackEntry> ct,
      TraceResult trace,
      int outcomes,
      int connections,
      boolean agree,
      String why,
      String seen) {
    public boolean branched() {
      return outcomes > 1;
    }
  }

  /**
   * A path across nodes: the outcome on the entry node and on the last node it reached; whether a
   * statistic rule or an IPVS scheduler chose along the way, whether an affinity rule (recent
   * --set) or a persistent virtual server remembers it, and the cycle of a deterministic choice.
   *
   * @param cycle 0 when nothing chose; n when only IPVS's rr (or wrr) chose, which visits its n
   *     real servers (wrr: weight units) in turn; -1 when a random choice (a statistic rule) was
   *     made
   * @param stranded the reply does not come back through some node on the way (one that DNATed
   *     without SNAT, say): the client never sees the answer as its connection's
   */
  record Path(
      double probability,
      Outcome first,
      Outcome last,
      boolean random,
      boolean affinity,
      int cycle,
      boolean stranded) {}

  /**
   * Connections per branching case. With 50, an outcome of probability 1/4 is missed with
   * probability 0.75^50 = 5.6e-7, below the tail bound: "every outcome with p >= 0.25 is observed"
   * is as strict as the frequency test and as unlikely to fail by chance.
   */
  public static final int SAMPLES = 50;

  /** Connections after the first to a ClientIP-affinity service: all must follow the first. */
  public static final int AFFINITY_SAMPLES = 10;

  /** A frequency whose binomial tail is below this fails: about one false alarm per 10^6. */
  public static final double TAIL = 1e-6;

  /**
   * Connections in flight at once: below the backends' listen backlog (socat's default is 5), since
   * a full accept queue drops the SYN and a correct connection would look like a timeout.
   */
  private static final int PARALLEL = 4;

  private final Lab lab;
  private final Duration replyTimeout;
  private boolean verbose;
  // Where a round's time goes (nanoseconds since the last report): bundles, traces, connections,
  // conntrack reads; printed in verbose runs, as the VM's budget is tight.
  private final long[] spent = new long[4];
  private int nextSport = 10000;

  public Differential(DemoCluster cluster) {
    this(cluster.lab(), TIMEOUT);
  }

  /**
   * A differential over {@code lab} (the demo's nodes, pods and clients).
   *
   * @param replyTimeout how long a connection may take when the trace says it is answered (longer
   *     in the emulated kernel VM); one the trace says fails waits {@code TIMEOUT} (1 s), since on
   *     one kernel a reply that comes at all comes within milliseconds
   */
  public Differential(Lab lab, Duration replyTimeout) {
    this.lab = lab;
    this.replyTimeout = replyTimeout;
  }

  /** Logs every case's comparison, not only the disagreements. */
  public Differential verbose(boolean on) {
    this.verbose = on;
    return this;
  }

  /** Rules other software writes on nodes, so the tracer meets more than kube-proxy's shapes. */
  public void installThirdPartyRules() {
    Lab.Node n1 = lab.node("node1");
    Lab.Node n2 = lab.node("node2");
    String webA = lab.pod("web-a").ip() + ":" + DemoCluster.BACKEND_PORT;
    Lab.Client ext = lab.client("ext");
    // Only toward ext: a reply to a connection that MASQUERADE --random-fully (or nft's masquerade
    // fully-random) gave source port 9001 would match too, and which port it picks no trace can
    // say.
    String forwardDrop =
        "*filter\n-A FORWARD -d "
            + ext.ip()
            + "/32 -p tcp -m multiport --dports "
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
    return cases(List.of("client", "web-a", "web-b", "node1", "node2", "ext", "ext2"), dsts);
  }

  /**
   * Every source (a pod, node or external client of the lab, by name) against every destination it
   * can address: external clients skip cluster-only ones and their own address.
   */
  public List<Case> cases(List<String> sources, List<Dst> dsts) {
    Lab.Client ext = lab.client("ext");
    List<Case> out = new ArrayList<>();
    for (String from : sources) {
      for (Dst d : dsts) {
        if (lab.client(from) != null && (d.clusterOnly() || d.ip().equals(ext.ip()))) {
          continue;
        }
        Case c = caseOf(from, d.ip(), d.port());
        if (d.ip().equals(c.srcIp())) {
          continue; // A pod talking to its own address never reaches the node.
        }
        out.add(c);
      }
    }
    return out;
  }

  /**
   * The case of one packet from {@code from} (a pod, node or external client of the lab, by name)
   * to {@code dst}:{@code dport}, traced on the node it enters: a pod's node, the node itself, or
   * for an external client the node whose address it is sent to (node1 for the VIPs it routes
   * there).
   */
  public Case caseOf(String from, String dst, int dport) {
    if (lab.pod(from) != null) {
      Lab.Pod p = lab.pod(from);
      return new Case(from, p.netns(), p.ip(), dst, dport, p.node().name(), nextSport++);
    }
    if (lab.node(from) != null) {
      return new Case(from, lab.node(from).netns(), null, dst, dport, from, nextSport++);
    }
    Lab.Client cl = lab.client(from);
    if (cl == null) {
      throw new IllegalArgumentException("no pod, node or client " + from + " in the lab");
    }
    String node = dst.equals(lab.node("node2").ip()) ? "node2" : "node1";
    return new Case(from, cl.netns(), cl.ip(), dst, dport, node, nextSport++);
  }

  /** Captures fresh bundles of both nodes. */
  public Map<String, NodeState> bundles() {
    long t0 = System.nanoTime();
    Map<String, NodeState> out = new HashMap<>();
    for (Lab.Node n : lab.nodes()) {
      out.put(
          n.name(), BundleReader.fromFiles(BundleCapture.capture(lab.runner().inNetns(n.netns()))));
    }
    spent[0] += System.nanoTime() - t0;
    return out;
  }

  /**
   * Runs the cases, logging each disagreement and, last, how many cases branched; returns every
   * result.
   */
  public List<Result> run(List<Case> cases, Map<String, NodeState> bundles, Consumer<String> log) {
    List<Result> out = new ArrayList<>();
    current = bundles;
    try (ExecutorService pool = Executors.newFixedThreadPool(PARALLEL)) {
      for (Case c : cases) {
        Result r = runOne(c, bundles.get(c.traceNode()), pool);
        if (!r.agree()) {
          log.accept("DISAGREE " + c.name() + ": " + r.why());
        } else if (verbose) {
          log.accept("agree    " + c.name() + ": kernel " + r.seen() + "; trace " + lastSummary);
        }
        out.add(r);
      }
    }
    log.accept(summaryLine(out));
    if (verbose) {
      log.accept(
          String.format(
              "time: bundles %.1f s, traces %.1f s, connections %.1f s, conntrack reads %.1f s",
              spent[0] / 1e9, spent[1] / 1e9, spent[2] / 1e9, spent[3] / 1e9));
    }
    java.util.Arrays.fill(spent, 0);
    return out;
  }

  /** "N cases, M with more than one outcome (C connections)": how much the run tested branching. */
  public static String summaryLine(List<Result> results) {
    long branched = results.stream().filter(Result::branched).count();
    long agree = results.stream().filter(Result::agree).count();
    int connections = results.stream().mapToInt(Result::connections).sum();
    return String.format(
        "differential: %d of %d cases agree; %d cases had more than one outcome; %d connections",
        agree, results.size(), branched, connections);
  }

  private Map<String, NodeState> current = Map.of();
  private String lastSummary = "";

  private Result runOne(Case c, NodeState node, ExecutorService pool) {
    long t0 = System.nanoTime();
    TraceResult trace =
        new Tracer(node)
            .trace(new PacketSpec(c.srcIp(), c.sport(), c.dst(), c.dport(), "tcp", null));
    List<Path> paths = paths(trace, c.traceNode(), c.sport(), 0);
    spent[1] += System.nanoTime() - t0;
    lastSummary = summary(paths);
    boolean random = paths.stream().anyMatch(Path::random);
    boolean affinity = paths.stream().anyMatch(Path::affinity);
    // A connection the trace says is answered may take longer than one it says fails.
    Duration timeout =
        paths.stream().anyMatch(p -> key(p).startsWith("reaches ")) ? replyTimeout : TIMEOUT;
    if (!random) {
      // Nothing chooses on any path: the kernel has exactly one way to go, so must the trace.
      Sample s = connect(c, List.of(c.sport()), paths, timeout, pool).get(0);
      String why =
          paths.size() != 1
              ? "no statistic rule or IPVS scheduler choice on the way, so the kernel has no"
                  + " choice, but the trace has "
                  + paths.size()
                  + " outcomes: "
                  + summary(paths)
                  + "; kernel: "
                  + s.real()
              : s.match() == null ? disagreement(s, paths) : null;
      return new Result(
          c, s.real(), s.ct(), trace, paths.size(), 1, why == null, why, seen(List.of(s)));
    }
    int cycle = cycle(paths);
    if (affinity) {
      return affinityCase(c, trace, paths, cycle, timeout, pool);
    }
    // IPVS's rr (and wrr) is deterministic: the scheduler takes the next real server with weight
    // above 0 for every new connection, so any 2n consecutive new connections to a virtual server
    // of n servers reach each server exactly twice (wrr: twice its weight per cycle). 2n
    // connections therefore observe every outcome of share >= 1/n and test the shares exactly,
    // where a random choice needs SAMPLES (50) for the same certainty: too slow in the emulated
    // VM. The cases run one after another, so no other connection takes a turn in between.
    int n = cycle > 0 ? 2 * cycle : SAMPLES;
    List<Integer> sports = new ArrayList<>();
    sports.add(c.sport());
    for (int i = 1; i < n; i++) {
      sports.add(nextSport++);
    }
    List<Sample> samples = connect(c, sports, paths, timeout, pool);
    String why = frequencies(paths, samples, cycle > 0);
    Sample first = samples.get(0);
    return new Result(
        c,
        first.real(),
        first.ct(),
        trace,
        paths.size(),
        samples.size(),
        why == null,
        why,
        seen(samples));
  }

  /** The cycle of the paths' deterministic choices (see {@link Path#cycle}), -1 if any is not. */
  private static int cycle(List<Path> paths) {
    int cycle = 0;
    for (Path p : paths) {
      if (p.random() && p.cycle() <= 0) {
        return -1;
      }
      cycle = Math.max(cycle, p.cycle());
    }
    return cycle;
  }

  /** What the kernel did with a case's connections: each distinct result and how often. */
  private static String seen(List<Sample> samples) {
    Map<String, Integer> n = new LinkedHashMap<>();
    for (Sample s : samples) {
      n.merge(s.real().toString(), 1, Integer::sum);
    }
    if (samples.size() == 1) {
      return samples.get(0).real().toString();
    }
    StringBuilder b = new StringBuilder(samples.size() + " connections:");
    n.forEach((k, v) -> b.append(' ').append(v).append(" x ").append(k).append(';'));
    return b.toString();
  }

  /**
   * ClientIP affinity: the first connection is the statistic's choice (one of the traced outcomes);
   * every later one from the same client follows it, as Kubernetes promises.
   */
  private Result affinityCase(
      Case c,
      TraceResult trace,
      List<Path> paths,
      int cycle,
      Duration timeout,
      ExecutorService pool) {
    Sample first = connect(c, List.of(c.sport()), paths, timeout, pool).get(0);
    String why = first.match() == null ? disagreement(first, paths) : null;
    List<Sample> all = new ArrayList<>(List.of(first));
    if (why == null) {
      // rr without persistence would send the next connection to another server for sure: one
      // more turn of its cycle shows whether the persistence template holds.
      int later = cycle > 0 ? cycle : AFFINITY_SAMPLES;
      List<Integer> sports = new ArrayList<>();
      for (int i = 0; i < later; i++) {
        sports.add(nextSport++);
      }
      List<Sample> samples = connect(c, sports, paths, timeout, pool);
      all.addAll(samples);
      for (Sample s : samples) {
        if (s.match() == null || !key(s.match()).equals(key(first.match()))) {
          why =
              "ClientIP affinity: the first connection "
                  + key(first.match())
                  + ", a later one from the same client: "
                  + s.real();
          break;
        }
      }
    }
    return new Result(
        c, first.real(), first.ct(), trace, paths.size(), all.size(), why == null, why, seen(all));
  }

  /** One connection the kernel handled: what the client saw, its conntrack entry, the path. */
  private record Sample(Connection real, List<NodeState.ConntrackEntry> ct, Path match) {}

  /**
   * Sends one connection per source port, {@link #PARALLEL} at a time, then reads the entry node's
   * conntrack table once and matches each connection with a traced path.
   */
  private List<Sample> connect(
      Case c, List<Integer> sports, List<Path> paths, Duration timeout, ExecutorService pool) {
    long t0 = System.nanoTime();
    List<Future<Connection>> fs = new ArrayList<>();
    for (int sport : sports) {
      fs.add(pool.submit(() -> lab.connect(c.netns(), c.dst(), c.dport(), sport, timeout)));
    }
    List<Connection> reals = new ArrayList<>();
    for (Future<Connection> f : fs) {
      try {
        reals.add(f.get());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted", e);
      } catch (ExecutionException e) {
        throw new IllegalStateException(e.getCause());
      }
    }
    long t1 = System.nanoTime();
    spent[2] += t1 - t0;
    CommandRunner traceNode = lab.runner().inNetns(lab.node(c.traceNode()).netns());
    String conntrack = traceNode.run("conntrack", "-L", "-p", "tcp").stdout();
    spent[3] += System.nanoTime() - t1;
    return samples(c, sports, paths, new Batch(reals, conntrack));
  }

  /** A case's connections and the entry node's conntrack table read right after them. */
  private record Batch(List<Connection> connections, String conntrack) {}

  private List<Sample> samples(Case c, List<Integer> sports, List<Path> paths, Batch batch) {
    List<Connection> reals = batch.connections();
    List<NodeState.ConntrackEntry> all = BundleReader.parseConntrack(batch.conntrack());
    List<Sample> out = new ArrayList<>();
    for (int i = 0; i < sports.size(); i++) {
      int sport = sports.get(i);
      List<NodeState.ConntrackEntry> ct =
          all.stream()
              .filter(
                  e ->
                      e.original().sport() == sport
                          && e.original().dport() == c.dport()
                          && e.original().dst().equals(c.dst())
                          && sentBy(c, e.original().src()))
              .toList();
      out.add(new Sample(reals.get(i), ct, match(reals.get(i), ct, paths)));
    }
    return out;
  }

  /**
   * Whether a conntrack entry's original source is this case's client: another client's connection
   * can carry the same source port (a remote node's MASQUERADE --random-fully picks ports at
   * random, and entries linger in TIME_WAIT), so the port alone does not identify the connection.
   * The node itself may send from any of its addresses: in IPVS mode from the VIP on kube-ipvs0
   * when the route to it says so.
   */
  private boolean sentBy(Case c, String src) {
    if (c.srcIp() != null) {
      return src.equals(c.srcIp());
    }
    Lab.Node n = lab.node(c.traceNode());
    if (src.equals(n.ip()) || src.equals(n.bridgeIp())) {
      return true;
    }
    NodeState state = current.get(c.traceNode());
    return state != null
        && state.interfaces().stream()
            .flatMap(i -> i.addresses().stream())
            .anyMatch(a -> a.ip().equals(src));
  }

  /**
   * The frequency test of a branching case: every connection took a traced path, every outcome of
   * probability >= 1/4 was seen, and each outcome's count is within the binomial bound of its
   * probability (both tails above {@link #TAIL}).
   */
  private static String frequencies(List<Path> paths, List<Sample> samples, boolean exact) {
    Map<String, Double> expected = new LinkedHashMap<>();
    for (Path p : paths) {
      expected.merge(key(p), p.probability(), Double::sum);
    }
    Map<String, Integer> seen = new LinkedHashMap<>();
    for (Sample s : samples) {
      if (s.match() == null) {
        return "a connection the trace does not allow: " + disagreement(s, paths);
      }
      seen.merge(key(s.match()), 1, Integer::sum);
    }
    int n = samples.size();
    List<String> problems = new ArrayList<>();
    for (Map.Entry<String, Double> e : expected.entrySet()) {
      int k = seen.getOrDefault(e.getKey(), 0);
      double p = e.getValue();
      double tail = Binomial.tail(n, p, k);
      double expect = n * p;
      if (p >= 0.25 && k == 0) {
        problems.add(String.format("never observed, traced p=%.4f: %s", p, e.getKey()));
      } else if (exact && Math.abs(expect - Math.rint(expect)) < 1e-9 && k != Math.rint(expect)) {
        problems.add(
            String.format(
                "%d of %d, but the scheduler takes its servers in turn, so exactly %d (traced"
                    + " p=%.4f): %s",
                k, n, Math.round(expect), p, e.getKey()));
      } else if (tail < TAIL) {
        problems.add(
            String.format(
                "%d of %d, traced p=%.4f (binomial tail %.1e): %s", k, n, p, tail, e.getKey()));
      }
    }
    return problems.isEmpty() ? null : String.join("; ", problems) + "; trace: " + summary(paths);
  }

  private static String disagreement(Sample s, List<Path> paths) {
    return "kernel: "
        + s.real()
        + (s.ct().isEmpty() ? "" : " conntrack " + s.ct().get(0))
        + "; trace: "
        + summary(paths);
  }

  /**
   * Follows outcomes that leave the entry node toward the other node (as its destination or next
   * hop) by tracing the packet there too, as it arrives on that node's eth0.
   */
  private List<Path> paths(TraceResult first, String nodeName, int sport, int depth) {
    List<Path> out = new ArrayList<>();
    for (Outcome o : first.outcomes()) {
      boolean random = chose(o);
      boolean affinity = remembers(o, current.get(nodeName));
      int cycle = cycle(o);
      String next = nextNode(o, nodeName);
      if (next == null || depth > 2) {
        out.add(new Path(o.probability(), o, o, random, affinity, cycle, stranded(o)));
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
        out.add(
            new Path(
                o.probability() * p.probability(),
                o,
                p.last(),
                random || p.random(),
                affinity || p.affinity(),
                cycle < 0 || p.cycle() < 0 ? -1 : Math.max(cycle, p.cycle()),
                stranded(o) || p.stranded()));
      }
    }
    return out;
  }

  /**
   * Whether the kernel chose on this path: a statistic rule (at random), or an IPVS scheduler
   * between two or more real servers (not pinned by a connection entry or template).
   */
  private static boolean chose(Outcome o) {
    return statistic(o) || ipvsScheduled(o);
  }

  /**
   * A random choice on the way: an iptables statistic rule, or an nft {@code numgen random} lookup
   * whose values lead to more than one place (a value that leads where every value leads, as
   * upstream's {@code numgen random mod 1} of a one-endpoint service, chooses nothing).
   */
  private static boolean statistic(Outcome o) {
    return o.steps().stream()
        .anyMatch(
            s ->
                s.text() != null
                    && (s.text().contains("-m statistic")
                        || s.text().contains("numgen random") && numgenSplit(s.effect())));
  }

  /** The probability NftWalker gives a numgen branch ("numgen = 0 (p=0.5000): ...") is below 1. */
  private static boolean numgenSplit(String effect) {
    int at = effect == null ? -1 : effect.indexOf("(p=");
    if (at < 0) {
      return false;
    }
    int end = effect.indexOf(')', at);
    return Double.parseDouble(effect.substring(at + 3, end)) < 1.0;
  }

  private static boolean ipvsScheduled(Outcome o) {
    return o.ipvs() != null
        && o.ipvs().pinnedBy().isEmpty()
        && o.ipvs().shares().stream().filter(s -> s.probability() > 0).count() > 1;
  }

  /** {@link Path#cycle} of one node's outcome. */
  private static int cycle(Outcome o) {
    if (statistic(o)) {
      return -1;
    }
    if (!ipvsScheduled(o)) {
      return 0;
    }
    List<Integer> weights =
        o.ipvs().shares().stream()
            .filter(s -> s.probability() > 0)
            .map(Outcome.Share::weight)
            .toList();
    return switch (o.ipvs().scheduler()) {
      case "rr" -> weights.size();
      case "wrr" -> {
        int g = weights.stream().reduce(0, Differential::gcd);
        yield weights.stream().mapToInt(w -> w / g).sum();
      }
      default -> -1; // lc, sh, ...: by load or hash, not in turn.
    };
  }

  private static int gcd(int a, int b) {
    return b == 0 ? a : gcd(b, a % b);
  }

  /**
   * Whether the path remembers the client for ClientIP affinity: a rule that adds it to a recent
   * list or (nftables mode) updates an affinity set with it, or a persistent IPVS virtual server
   * (its template keeps the client on the server).
   */
  private static boolean remembers(Outcome o, NodeState node) {
    if (o.ipvs() != null && node != null) {
      var svc = node.ipvs().byKey().get(o.ipvs().virtualServer());
      if (svc != null && svc.server().persistenceTimeout() > 0) {
        return true;
      }
    }
    return o.steps().stream()
        .anyMatch(
            s ->
                s.text() != null
                    && (s.text().contains("-m recent") && s.text().contains("--set")
                        || s.kind() == dev.svcproxy.trace.StepKind.RULE_MATCH
                            && s.text().matches("handle \\d+: .*\\bupdate @affinity-.*")));
  }

  private String nextNode(Outcome o, String from) {
    if (!o.delivered() || o.delivery().equals("local")) {
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

  /**
   * What a path predicts the client sees: the backend it reaches and the address that backend sees,
   * a refusal, or a timeout. Paths with the same prediction are one outcome for the kernel.
   */
  private static String key(Path p) {
    Outcome o = p.last();
    String v = o.verdict().name();
    // A hop whose reply does not come back (not only the last) fails the connection: a node that
    // DNATs without SNAT and then forwards to another node never sees the answer to un-DNAT.
    if (v.equals("ACCEPT") && p.first().delivered() && !p.stranded()) {
      if (o.delivery().equals("local")) {
        return "refused"; // Nothing on the nodes listens on the lab's ports.
      }
      return "reaches " + o.finalDestination().split(":")[0] + " as " + o.finalSource();
    }
    if (v.equals("REJECT")) {
      return "refused";
    }
    if (v.equals("DROP") || v.equals("ACCEPT")) {
      return "timed out";
    }
    return "fails (" + v + ")";
  }

  /** The traced path this connection took, or null when the kernel did what no path predicts. */
  private Path match(Connection real, List<NodeState.ConntrackEntry> ct, List<Path> paths) {
    for (Path p : paths) {
      String k = key(p);
      boolean ok =
          switch (real.outcome()) {
            case REPLIED ->
                k.equals("reaches " + backendIp(real.backend()) + " as " + real.peer())
                    && labEndpoint(p.last().finalDestination())
                    && conntrackAgrees(p.first(), ct);
            case REFUSED -> k.equals("refused");
            case TIMED_OUT ->
                k.equals("timed out")
                    || k.startsWith("reaches ") && !labEndpoint(p.last().finalDestination());
            case FAILED -> !p.last().delivered();
          };
      if (ok) {
        return p;
      }
    }
    return null;
  }

  /** The NAT the entry node's conntrack recorded is the one the trace applied there. */
  private static boolean conntrackAgrees(Outcome f, List<NodeState.ConntrackEntry> ct) {
    if (ct.isEmpty()) {
      return true;
    }
    NodeState.ConntrackEntry e = ct.get(0);
    String kernelDst = e.reply().src() + ":" + e.reply().sport();
    return f.finalDestination().equals(kernelDst) && f.finalSource().equals(e.reply().dst());
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
              "[p=%.4f %s dst=%s src=%s %s%s%s] ",
              p.probability(),
              o.verdict(),
              o.finalDestination(),
              o.finalSource(),
              o.delivery(),
              p.stranded() ? " reply-stranded" : "",
              p.first() == o ? "" : " via " + p.first().finalDestination()));
    }
    return b.toString();
  }
}
