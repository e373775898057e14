package dev.svcproxy.lab;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.Spawned;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small cluster made of network namespaces: a fabric bridge joining nodes (192.168.77.0/24), each
 * node with a cni0 bridge and pods on veth pairs (10.244.N.0/24), host-gw routes between nodes, and
 * external clients on the fabric. Everything lives in namespaces named with a per-run prefix and is
 * removed by close(), even after a failure; nothing touches the root namespace.
 */
public final class Lab implements AutoCloseable {
  public static final String FABRIC_NET = "192.168.77";
  public static final String CLUSTER_CIDR = "10.244.0.0/16";
  public static final String GATEWAY = FABRIC_NET + ".1";

  /** A node: its namespace, node IP and pod CIDR. */
  public record Node(int index, String name, String netns, String ip) {
    public String podPrefix() {
      return "10.244." + index;
    }

    public String podCidr() {
      return podPrefix() + ".0/24";
    }

    public String bridgeIp() {
      return podPrefix() + ".1";
    }
  }

  /** A pod on a node. */
  public record Pod(String name, String netns, String ip, Node node) {}

  /** An external client on the fabric. */
  public record Client(String name, String netns, String ip) {}

  private final CommandRunner runner;
  private final String prefix;
  private final Path workDir;
  private final List<String> namespaces = new ArrayList<>();
  private final Map<String, Node> nodes = new LinkedHashMap<>();
  private final Map<String, Pod> pods = new LinkedHashMap<>();
  private final Map<String, Client> clients = new LinkedHashMap<>();
  private final Map<Node, Integer> nextPodHost = new LinkedHashMap<>();
  private final List<Spawned> processes = new ArrayList<>();
  private final String fabric;
  private final String gateway;
  private int nextClientHost = 100;
  private boolean closed;
  private Thread hook;

  private Lab(CommandRunner runner, String prefix, Path workDir) {
    this.runner = runner;
    this.prefix = prefix;
    this.workDir = workDir;
    this.fabric = prefix + "-fabric";
    this.gateway = prefix + "-gw";
  }

  /** A new lab with {@code nodeCount} nodes named node1..nodeN; close it when done. */
  public static Lab create(CommandRunner runner, int nodeCount) {
    String prefix = newPrefix();
    Path dir;
    try {
      dir = Files.createTempDirectory(prefix + "-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    removeStale(runner);
    Lab lab = new Lab(runner, prefix, dir);
    lab.hook = new Thread(lab::close, "lab-teardown");
    Runtime.getRuntime().addShutdownHook(lab.hook);
    try {
      lab.addNamespace(lab.fabric);
      lab.in(lab.fabric, "ip", "link", "add", "br0", "type", "bridge");
      lab.in(lab.fabric, "ip", "link", "set", "br0", "up");
      // A gateway that routes nowhere: nodes need a default route, as real ones have, so that
      // unknown destinations are routed (and dropped inside the lab) rather than unreachable.
      lab.addNamespace(lab.gateway);
      lab.vethToFabric("gw", lab.gateway, GATEWAY + "/24");
      for (int i = 1; i <= nodeCount; i++) {
        lab.addNode(i);
      }
      for (Node a : lab.nodes.values()) {
        for (Node b : lab.nodes.values()) {
          if (a != b) {
            lab.in(a.netns(), "ip", "route", "add", b.podCidr(), "via", b.ip());
          }
        }
      }
    } catch (RuntimeException e) {
      lab.close();
      throw e;
    }
    return lab;
  }

  /** "svp" + this process id + random letters: unique per run, and tells whose it was. */
  private static String newPrefix() {
    String letters = "abcdefghijklmnopqrstuvwxyz";
    SecureRandom r = new SecureRandom();
    // Four letters: labs of one process may exist side by side (the VM phase runs test classes
    // in parallel in one JVM), and two letters collided once in a few dozen labs.
    StringBuilder b = new StringBuilder("svp").append(ProcessHandle.current().pid());
    for (int i = 0; i < 4; i++) {
      b.append(letters.charAt(r.nextInt(26)));
    }
    return b.toString();
  }

  public String prefix() {
    return prefix;
  }

  public Path workDir() {
    return workDir;
  }

  public CommandRunner runner() {
    return runner;
  }

  public Node node(String name) {
    return nodes.get(name);
  }

  public List<Node> nodes() {
    return List.copyOf(nodes.values());
  }

  public Pod pod(String name) {
    return pods.get(name);
  }

  private void addNode(int i) {
    String name = "node" + i;
    Node n = new Node(i, name, prefix + "-" + name, FABRIC_NET + "." + (10 + i));
    addNamespace(n.netns());
    vethToFabric("n" + i, n.netns(), n.ip() + "/24");
    in(n.netns(), "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
    in(n.netns(), "ip", "route", "add", "default", "via", GATEWAY);
    in(n.netns(), "ip", "link", "add", "cni0", "type", "bridge");
    in(n.netns(), "ip", "addr", "add", n.bridgeIp() + "/24", "dev", "cni0");
    in(n.netns(), "ip", "link", "set", "cni0", "up");
    nodes.put(name, n);
    nextPodHost.put(n, 2);
  }

  /** Adds a pod to {@code node} with the next free address of its pod CIDR. */
  public Pod addPod(String nodeName, String podName) {
    Node n = nodes.get(nodeName);
    int host = nextPodHost.merge(n, 1, Integer::sum) - 1;
    Pod p = new Pod(podName, prefix + "-" + podName, n.podPrefix() + "." + host, n);
    addNamespace(p.netns());
    String hostSide = "veth" + host;
    in(
        n.netns(), "ip", "link", "add", hostSide, "type", "veth", "peer", "name", "eth0", "netns",
        p.netns());
    in(n.netns(), "ip", "link", "set", hostSide, "master", "cni0");
    // As the CNI bridge plugin with hairpinMode (kubelet's hairpin-veth): a pod reaching itself
    // through its Service comes back out of the port it went in by.
    in(n.netns(), "ip", "link", "set", hostSide, "type", "bridge_slave", "hairpin", "on");
    in(n.netns(), "ip", "link", "set", hostSide, "up");
    in(p.netns(), "ip", "addr", "add", p.ip() + "/24", "dev", "eth0");
    in(p.netns(), "ip", "link", "set", "eth0", "up");
    in(p.netns(), "ip", "route", "add", "default", "via", n.bridgeIp());
    pods.put(podName, p);
    return p;
  }

  /** Adds an external client on the fabric; it reaches the nodes directly. */
  public Client addClient(String name) {
    Client c = new Client(name, prefix + "-" + name, FABRIC_NET + "." + nextClientHost++);
    addNamespace(c.netns());
    vethToFabric("c" + (nextClientHost - 1), c.netns(), c.ip() + "/24");
    clients.put(name, c);
    return c;
  }

  public Client client(String name) {
    return clients.get(name);
  }

  /** Adds a route in a namespace of the lab (e.g. an LB VIP via a node). */
  public void route(String netns, String prefixOrIp, String via) {
    in(netns, "ip", "route", "replace", prefixOrIp, "via", via);
  }

  /**
   * A second link between two of the lab's namespaces: a veth pair named {@code dev} on both sides,
   * {@code addrA}/{@code addrB} (CIDR notation) on each end, both up. It goes away with the
   * namespaces.
   */
  public void wire(String netnsA, String addrA, String netnsB, String addrB, String dev) {
    in(netnsA, "ip", "link", "add", dev, "type", "veth", "peer", "name", dev, "netns", netnsB);
    in(netnsA, "ip", "addr", "add", addrA, "dev", dev);
    in(netnsA, "ip", "link", "set", dev, "up");
    in(netnsB, "ip", "addr", "add", addrB, "dev", dev);
    in(netnsB, "ip", "link", "set", dev, "up");
  }

  /**
   * Starts a TCP backend in a pod that answers every connection with one line: the pod's name and
   * the peer address it saw, so a test can tell whether the client was SNATed.
   */
  public void startBackend(Pod pod, int port) {
    Path log = workDir.resolve(pod.name() + "-" + port + ".log");
    processes.add(
        runner
            .inNetns(pod.netns())
            .spawn(
                List.of(
                    "socat",
                    "TCP-LISTEN:" + port + ",fork,reuseaddr",
                    "SYSTEM:echo " + pod.name() + " $SOCAT_PEERADDR"),
                log));
    waitListening(pod.netns(), port);
  }

  /** Starts a long-running command in a namespace; the lab stops it on close. */
  public Spawned spawn(String netns, List<String> argv, Path log) {
    Spawned s = runner.inNetns(netns).spawn(argv, log);
    processes.add(s);
    return s;
  }

  private void waitListening(String netns, int port) {
    long end = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (System.nanoTime() < end) {
      CommandResult r = runner.inNetns(netns).run("ss", "-Hltn", "sport = :" + port);
      if (r.ok() && !r.stdout().isBlank()) {
        return;
      }
      sleep(50);
    }
    throw new IllegalStateException("backend in " + netns + " is not listening on " + port);
  }

  /** Opens a TCP connection from a namespace and reads the backend's line. */
  public Connection connect(String fromNetns, String ip, int port, Duration timeout) {
    return connect(fromNetns, ip, port, 0, timeout);
  }

  /**
   * Connects from source port {@code sport} (0: any) so the connection can be found in conntrack.
   */
  public Connection connect(String fromNetns, String ip, int port, int sport, Duration timeout) {
    long secs = Math.max(1, timeout.toSeconds());
    String source = sport > 0 ? ",sourceport=" + sport + ",reuseaddr" : "";
    CommandResult r =
        runner
            .inNetns(fromNetns)
            .run(
                List.of(
                    "socat",
                    // -U: only read. Sending the EOF of the empty stdin half-closes the connection,
                    // and the backend's socat then gives its forked echo only 0.5 s (its -t) to
                    // answer before closing: under load (the emulated VM) an answered connection
                    // looked like one that got nothing.
                    "-U",
                    "-T" + (secs + 1),
                    "-t2",
                    "-",
                    "TCP:" + ip + ":" + port + ",connect-timeout=" + secs + source),
                "",
                Duration.ofSeconds(secs + 10));
    return Connection.of(r);
  }

  public Connection connect(String fromNetns, String ip, int port) {
    return connect(fromNetns, ip, port, Duration.ofSeconds(2));
  }

  /** Runs a command in a namespace of the lab and fails if it fails. */
  public CommandResult in(String netns, String... argv) {
    return runner.inNetns(netns).run(argv).orThrow();
  }

  private void addNamespace(String ns) {
    runner.run("ip", "netns", "add", ns).orThrow();
    namespaces.add(ns);
    in(ns, "ip", "link", "set", "lo", "up");
  }

  private void vethToFabric(String fabricSide, String ns, String cidr) {
    in(
        fabric,
        "ip",
        "link",
        "add",
        fabricSide,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns);
    in(fabric, "ip", "link", "set", fabricSide, "master", "br0");
    in(fabric, "ip", "link", "set", fabricSide, "up");
    in(ns, "ip", "addr", "add", cidr, "dev", "eth0");
    in(ns, "ip", "link", "set", "eth0", "up");
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Stops every process and deletes every namespace the lab made. Safe to call twice. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (hook != null && Thread.currentThread() != hook) {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException e) {
        // Already shutting down: the hook is running or will run; closing twice is harmless.
      }
    }
    for (Spawned s : processes) {
      s.close();
    }
    for (int i = namespaces.size() - 1; i >= 0; i--) {
      runner.run("ip", "netns", "del", namespaces.get(i));
    }
    try (var files = Files.walk(workDir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // A leftover temp directory is harmless.
    }
  }

  /** Deletes namespaces left by lab runs whose process no longer exists. */
  public static void removeStale(CommandRunner runner) {
    CommandResult r = runner.run("ip", "netns", "list");
    for (String line : r.stdout().lines().toList()) {
      String ns = line.split("\\s+")[0];
      java.util.regex.Matcher m =
          java.util.regex.Pattern.compile("svp(\\d+)[a-z]{2,4}-.*").matcher(ns);
      if (m.matches() && ProcessHandle.of(Long.parseLong(m.group(1))).isEmpty()) {
        runner.run("ip", "netns", "del", ns);
      }
    }
  }
}
