package dev.svcproxy.lab;

import dev.svcproxy.kernel.CommandRunner;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The two-node lab the demo and the end-to-end tests use: backends web-a (node1) and web-b (node2),
 * a client pod on node1, external clients ext (allowed by the LoadBalancer's source ranges) and
 * ext2 (not), and one Service per behaviour worth showing.
 */
public final class DemoCluster implements AutoCloseable {
  public static final int BACKEND_PORT = 8080;
  public static final String WEB = "10.96.0.10";
  public static final int WEB_NODEPORT = 30080;
  public static final String WEB_LOCAL = "10.96.0.11";
  public static final int WEB_LOCAL_NODEPORT = 30081;
  public static final String EMPTY = "10.96.0.12";
  public static final String LB_VIP = "192.168.77.200";
  public static final String EXTERNAL_IP = "192.168.77.201";
  public static final String STICKY = "10.96.0.15";
  public static final String SELF = "10.96.0.16";

  private final Lab lab;
  private final Path manifests;
  private final String mode;
  private final List<ProxyProcess> proxies = new ArrayList<>();

  private DemoCluster(Lab lab, Path manifests, String mode) {
    this.lab = lab;
    this.manifests = manifests;
    this.mode = mode;
  }

  /** Builds the lab, writes the manifests and starts svcproxy (iptables mode) on both nodes. */
  public static DemoCluster start(CommandRunner runner) {
    return start(runner, "iptables");
  }

  /** As {@link #start(CommandRunner)}, with svcproxy run --mode {@code mode} on each node. */
  public static DemoCluster start(CommandRunner runner, String mode) {
    Lab lab = Lab.create(runner, 2);
    try {
      lab.addPod("node1", "web-a");
      lab.addPod("node1", "client");
      lab.addPod("node2", "web-b");
      Lab.Client ext = lab.addClient("ext");
      Lab.Client ext2 = lab.addClient("ext2");
      for (Lab.Client c : List.of(ext, ext2)) {
        lab.route(c.netns(), LB_VIP, lab.node("node1").ip());
        lab.route(c.netns(), EXTERNAL_IP, lab.node("node1").ip());
      }
      lab.startBackend(lab.pod("web-a"), BACKEND_PORT);
      lab.startBackend(lab.pod("web-b"), BACKEND_PORT);
      Path dir = lab.workDir().resolve("manifests");
      Files.createDirectories(dir);
      DemoCluster c = new DemoCluster(lab, dir, mode);
      c.writeManifest("services.yaml", services());
      c.writeManifest("endpoints.yaml", c.endpointSlices(true));
      for (Lab.Node n : lab.nodes()) {
        c.proxies.add(ProxyProcess.start(lab, n, dir, mode, List.of()));
      }
      return c;
    } catch (IOException e) {
      lab.close();
      throw new UncheckedIOException(e);
    } catch (RuntimeException e) {
      lab.close();
      throw e;
    }
  }

  public Lab lab() {
    return lab;
  }

  /** The proxy mode svcproxy runs in on the nodes. */
  public String mode() {
    return mode;
  }

  public Path manifests() {
    return manifests;
  }

  public ProxyProcess proxy(int nodeIndex) {
    return proxies.get(nodeIndex - 1);
  }

  /** Restarts svcproxy on every node with {@code flags}; returns once each has synced. */
  public void restartProxies(List<String> flags) {
    List<Lab.Node> nodes = lab.nodes();
    for (int i = 0; i < proxies.size(); i++) {
      proxies.get(i).stop();
      proxies.set(i, ProxyProcess.start(lab, nodes.get(i), manifests, mode, flags));
    }
  }

  public void writeManifest(String name, String text) {
    try {
      Path tmp = manifests.resolve("." + name + ".tmp");
      Files.writeString(tmp, text);
      Files.move(
          tmp,
          manifests.resolve(name),
          java.nio.file.StandardCopyOption.ATOMIC_MOVE,
          java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static String services() {
    return String.join(
        "---\n",
        service("web", WEB, "type: NodePort", port(WEB_NODEPORT)),
        service(
            "web-local",
            WEB_LOCAL,
            "type: NodePort\n  externalTrafficPolicy: Local",
            port(WEB_LOCAL_NODEPORT)),
        service("empty", EMPTY, "type: ClusterIP", port(0)),
        service(
                "web-lb",
                "10.96.0.13",
                "type: LoadBalancer\n  loadBalancerSourceRanges: [192.168.77.100/32]",
                port(30083))
            + "status:\n  loadBalancer:\n    ingress: [{ip: "
            + LB_VIP
            + "}]\n",
        service(
            "web-eip",
            "10.96.0.14",
            "type: ClusterIP\n  externalIPs: [" + EXTERNAL_IP + "]",
            port(0)),
        service("web-sticky", STICKY, "type: ClusterIP\n  sessionAffinity: ClientIP", port(0)),
        service("self", SELF, "type: ClusterIP", port(0)));
  }

  /** EndpointSlices; with {@code webB} false, web's slice no longer lists web-b. */
  public String endpointSlices(boolean webB) {
    return endpointSlices(lab, webB);
  }

  /** {@link #endpointSlices(boolean)} of a lab built as this cluster builds it. */
  static String endpointSlices(Lab lab, boolean webB) {
    String a = endpoint(lab.pod("web-a"));
    String b = endpoint(lab.pod("web-b"));
    return String.join(
        "---\n",
        slice("web", webB ? a + b : a),
        slice("web-local", b),
        slice("web-lb", a + b),
        slice("web-eip", a + b),
        slice("web-sticky", a + b),
        slice("self", a));
  }

  private static String port(int nodePort) {
    return "ports: [{name: http, port: 80, protocol: TCP, targetPort: "
        + BACKEND_PORT
        + (nodePort == 0 ? "" : ", nodePort: " + nodePort)
        + "}]";
  }

  private static String service(String name, String ip, String typeLines, String ports) {
    return "apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: "
        + name
        + "}\nspec:\n  "
        + typeLines
        + "\n  clusterIP: "
        + ip
        + "\n  "
        + ports
        + "\n";
  }

  private static String endpoint(Lab.Pod p) {
    return "- addresses: [" + p.ip() + "]\n  nodeName: " + p.node().name() + "\n";
  }

  private static String slice(String svc, String endpoints) {
    return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: default\n"
        + "  name: "
        + svc
        + "-1\n  labels: {kubernetes.io/service-name: "
        + svc
        + "}\naddressType: IPv4\nports: [{name: http, port: "
        + BACKEND_PORT
        + ", protocol: TCP}]\nendpoints:\n"
        + endpoints;
  }

  @Override
  public void close() {
    proxies.forEach(ProxyProcess::stop);
    lab.close();
  }
}
