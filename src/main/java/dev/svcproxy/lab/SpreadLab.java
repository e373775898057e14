package dev.svcproxy.lab;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A one-node lab with one ClusterIP Service of K endpoints (pods be1..beK) and a client pod, run by
 * svcproxy: how the kernel's statistic rules spread many connections over the endpoints.
 */
public final class SpreadLab implements AutoCloseable {
  public static final String VIP = "10.96.0.50";
  public static final int PORT = 80;

  /** Below the backends' listen backlog, as in {@link Differential}. */
  private static final int PARALLEL = 4;

  private final Lab lab;
  private final List<Lab.Pod> backends;
  private final ProxyProcess proxy;

  private SpreadLab(Lab lab, List<Lab.Pod> backends, ProxyProcess proxy) {
    this.lab = lab;
    this.backends = List.copyOf(backends);
    this.proxy = proxy;
  }

  /** Builds the lab, writes the Service and its EndpointSlice and waits for svcproxy's sync. */
  public static SpreadLab start(CommandRunner runner, int endpoints) {
    Lab lab = Lab.create(runner, 1);
    try {
      List<Lab.Pod> backends = new ArrayList<>();
      StringBuilder eps = new StringBuilder();
      for (int i = 1; i <= endpoints; i++) {
        Lab.Pod p = lab.addPod("node1", "be" + i);
        lab.startBackend(p, DemoCluster.BACKEND_PORT);
        backends.add(p);
        eps.append("- addresses: [").append(p.ip()).append("]\n  nodeName: node1\n");
      }
      lab.addPod("node1", "client");
      Path dir = lab.workDir().resolve("manifests");
      Files.createDirectories(dir);
      Files.writeString(
          dir.resolve("spread.yaml"),
          "apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: spread}\n"
              + "spec:\n  type: ClusterIP\n  clusterIP: "
              + VIP
              + "\n  ports: [{name: http, port: "
              + PORT
              + ", protocol: TCP, targetPort: "
              + DemoCluster.BACKEND_PORT
              + "}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
              + "  namespace: default\n  name: spread-1\n"
              + "  labels: {kubernetes.io/service-name: spread}\naddressType: IPv4\n"
              + "ports: [{name: http, port: "
              + DemoCluster.BACKEND_PORT
              + ", protocol: TCP}]\nendpoints:\n"
              + eps);
      ProxyProcess proxy = ProxyProcess.start(lab, lab.node("node1"), dir, List.of());
      return new SpreadLab(lab, backends, proxy);
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

  public List<Lab.Pod> backends() {
    return backends;
  }

  public Lab.Pod client() {
    return lab.pod("client");
  }

  /**
   * Opens {@code n} connections from the client pod to the Service (source ports from {@code
   * firstSport} on, so each is a new connection); counts them by what answered ("be1", ..., or the
   * failure).
   */
  public Map<String, Integer> connect(int n, int firstSport) {
    List<Future<Connection>> fs = new ArrayList<>();
    Map<String, Integer> out = new TreeMap<>();
    try (ExecutorService pool = Executors.newFixedThreadPool(PARALLEL)) {
      for (int i = 0; i < n; i++) {
        int sport = firstSport + i;
        fs.add(
            pool.submit(
                () -> lab.connect(client().netns(), VIP, PORT, sport, Duration.ofSeconds(2))));
      }
      for (Future<Connection> f : fs) {
        Connection c = f.get();
        out.merge(
            c.outcome() == Connection.Outcome.REPLIED ? c.backend() : c.toString(),
            1,
            Integer::sum);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    }
    return out;
  }

  /** A bundle of the node, as `svcproxy capture` writes it. */
  public NodeState bundle() {
    return BundleReader.fromFiles(
        BundleCapture.capture(lab.runner().inNetns(lab.node("node1").netns())));
  }

  @Override
  public void close() {
    proxy.stop();
    lab.close();
  }
}
