package dev.svcproxy.bench;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Connection set-up through a Service VIP as the number of Services grows, per proxy mode: the real
 * `svcproxy run` programs a throw-away one-node lab with N ClusterIP Services x M endpoints (one of
 * them served by a real backend pod), then a pod times blocking TCP connects to that Service's VIP,
 * and to the backend pod directly (the floor: the same path without the Service's NAT), in the same
 * run. The measured Service is placed last in iptables' KUBE-SERVICES, the worst case of its linear
 * dispatch; nftables' verdict map does not care where it is.
 */
public final class DataplaneBenchmark {
  static final String TARGET_IP = "10.97.0.10";
  private static final int BACKEND_PORT = 8080;
  private static final Pattern FIGURES =
      Pattern.compile(
          "ok=(\\d+) failed=(\\d+) p50=([\\d.NaN]+) p90=([\\d.NaN]+) p99=([\\d.NaN]+)"
              + " mean=([\\d.NaN]+)");

  private DataplaneBenchmark() {}

  /** What to measure: modes, Service counts, endpoints per filler Service, connects per figure. */
  public record Options(
      List<String> modes,
      List<Integer> services,
      int endpoints,
      int connections,
      int warmup,
      Duration syncTimeout) {
    public Options {
      modes = List.copyOf(modes);
      services = List.copyOf(services);
      if (services.stream().anyMatch(n -> n < 1 || n > SyncBenchmark.MAX_SERVICES)) {
        throw new IllegalArgumentException(
            "--services must be between 1 and " + SyncBenchmark.MAX_SERVICES);
      }
      if (endpoints < 1 || endpoints > SyncBenchmark.MAX_ENDPOINTS) {
        throw new IllegalArgumentException(
            "--endpoints must be between 1 and " + SyncBenchmark.MAX_ENDPOINTS);
      }
      if (connections < 10 || warmup < 0) {
        throw new IllegalArgumentException("--connections must be >= 10, --warmup >= 0");
      }
    }
  }

  /** Microsecond figures of one series of connects. */
  public record Stats(int ok, int failed, double p50, double p90, double p99, double mean) {
    static Stats parse(String line) {
      Matcher m = FIGURES.matcher(line);
      if (!m.find()) {
        throw new IllegalStateException("probe printed no figures: " + line);
      }
      return new Stats(
          Integer.parseInt(m.group(1)),
          Integer.parseInt(m.group(2)),
          Double.parseDouble(m.group(3)),
          Double.parseDouble(m.group(4)),
          Double.parseDouble(m.group(5)),
          Double.parseDouble(m.group(6)));
    }
  }

  /**
   * One mode at one size: connects through the Service, connects straight to the backend pod, and
   * (iptables) where the measured Service's rule sits in KUBE-SERVICES ("" when not known).
   */
  public record Figure(String mode, int services, Stats viaService, Stats direct, String where) {}

  /** Measures every mode at every size, each in its own lab; {@code progress} gets stage lines. */
  public static List<Figure> run(CommandRunner root, Options opt, Consumer<String> progress)
      throws IOException {
    List<Figure> out = new ArrayList<>();
    for (String mode : opt.modes()) {
      for (int n : opt.services()) {
        progress.accept(mode + ", " + n + " services: building the lab");
        out.add(measure(root, opt, mode, n, progress));
      }
    }
    return out;
  }

  private static Figure measure(
      CommandRunner root, Options opt, String mode, int n, Consumer<String> progress)
      throws IOException {
    try (Lab lab = Lab.create(root, 1)) {
      Lab.Node node = lab.nodes().getFirst();
      Lab.Pod client = lab.addPod(node.name(), "client");
      Lab.Pod backend = lab.addPod(node.name(), "backend");
      Path listenLog = lab.workDir().resolve("listen.log");
      lab.spawn(backend.netns(), probe("listen", String.valueOf(BACKEND_PORT)), listenLog);
      await(listenLog, "listening", Duration.ofSeconds(30));

      Path manifests = Files.createDirectories(lab.workDir().resolve("manifests"));
      writeManifests(manifests, n - 1, opt.endpoints(), backend.ip());
      progress.accept(mode + ", " + n + " services: waiting for the first sync");
      Path log = lab.workDir().resolve("svcproxy.log");
      List<String> argv = new ArrayList<>(ProxyProcess.javaCommand());
      argv.addAll(List.of("run", "--mode", mode, "--manifests", manifests.toString()));
      argv.addAll(ProxyProcess.nodeFlags(node, lab.workDir()));
      argv.addAll(List.of("--healthz-bind-address", "", "--metrics-bind-address", ""));
      lab.spawn(node.netns(), argv, log);
      await(log, "synced " + mode, opt.syncTimeout());

      String where = mode.equals("iptables") ? position(lab, node) : "";
      progress.accept(mode + ", " + n + " services: timing connects");
      Stats via = probeConnects(lab, client, TARGET_IP, 80, opt);
      Stats direct = probeConnects(lab, client, backend.ip(), BACKEND_PORT, opt);
      return new Figure(mode, n, via, direct, where);
    }
  }

  private static Stats probeConnects(Lab lab, Lab.Pod from, String ip, int port, Options opt) {
    List<String> argv =
        probe(
            "connect",
            ip,
            String.valueOf(port),
            String.valueOf(opt.connections()),
            String.valueOf(opt.warmup()));
    CommandResult r =
        lab.runner()
            .inNetns(from.netns())
            .run(argv, "", Duration.ofSeconds(60 + 3L * (opt.connections() + opt.warmup()) / 100))
            .orThrow();
    Stats s = Stats.parse(r.stdout());
    if (s.failed() > 0 || s.ok() == 0) {
      throw new IllegalStateException(
          "connects to " + ip + ":" + port + " failed: " + r.stdout().strip() + " " + r.stderr());
    }
    return s;
  }

  /** "rule k of K in KUBE-SERVICES" for the measured Service's ClusterIP. */
  private static String position(Lab lab, Lab.Node node) {
    String save = lab.in(node.netns(), "iptables-save", "-t", "nat").stdout();
    int k = 0;
    int at = -1;
    for (String line : save.split("\n")) {
      if (line.startsWith("-A KUBE-SERVICES ")) {
        k++;
        if (line.contains(" -d " + TARGET_IP + "/32 ")) {
          at = k;
        }
      }
    }
    return at < 0 ? "not found in KUBE-SERVICES" : "rule " + at + " of " + k + " in KUBE-SERVICES";
  }

  /** Filler Services (no reachable endpoints) and the measured one, served by the backend pod. */
  static void writeManifests(Path dir, int fillers, int endpoints, String backendIp)
      throws IOException {
    for (int from = 0; from < fillers; from += 100) {
      int to = Math.min(fillers, from + 100);
      Files.writeString(
          dir.resolve(String.format(Locale.ROOT, "svc-%05d.yaml", from / 100)),
          ManifestWatchBenchmark.yaml(from, to, endpoints, -1));
    }
    // Namespace "zz" sorts after "bench", so the measured Service's rule is written last.
    Files.writeString(
        dir.resolve("target.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {namespace: zz, name: target}\nspec:\n"
            + "  clusterIP: "
            + TARGET_IP
            + "\n  ports: [{name: http, port: 80, targetPort: "
            + BACKEND_PORT
            + ", protocol: TCP}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            + "metadata:\n  namespace: zz\n  name: target-1\n"
            + "  labels: {kubernetes.io/service-name: target}\naddressType: IPv4\n"
            + "endpoints:\n- {addresses: ["
            + backendIp
            + "], conditions: {ready: true}}\nports: [{name: http, port: "
            + BACKEND_PORT
            + ", protocol: TCP}]\n");
  }

  private static List<String> probe(String... args) {
    List<String> argv = new ArrayList<>();
    argv.add(ProcessHandle.current().info().command().orElse("java"));
    argv.add("-XX:+UseSerialGC");
    argv.add("-cp");
    argv.add(System.getProperty("java.class.path"));
    argv.add(ConnectProbe.class.getName());
    argv.addAll(List.of(args));
    return argv;
  }

  private static void await(Path log, String text, Duration timeout) throws IOException {
    long end = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < end) {
      if (Files.exists(log) && Files.readString(log).contains(text)) {
        return;
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted");
      }
    }
    String tail = Files.exists(log) ? Files.readString(log) : "(no log)";
    throw new IllegalStateException(
        "\"" + text + "\" not logged in " + timeout.toSeconds() + " s:\n" + tail);
  }

  /** The figures as a table, then per mode the largest size against the smallest. */
  public static void print(List<Figure> figures, Consumer<String> out) {
    out.accept(
        String.format(
            Locale.ROOT,
            "%-9s %8s  %-28s %-28s %s",
            "mode",
            "services",
            "via Service p50/p90/p99 us",
            "direct to pod p50/p90/p99 us",
            "Service's own cost p50 us"));
    for (Figure f : figures) {
      out.accept(
          String.format(
              Locale.ROOT,
              "%-9s %8d  %-28s %-28s %8.1f  %s",
              f.mode(),
              f.services(),
              triple(f.viaService()),
              triple(f.direct()),
              f.viaService().p50() - f.direct().p50(),
              f.where()));
    }
    for (String mode : figures.stream().map(Figure::mode).distinct().toList()) {
      List<Figure> fs = figures.stream().filter(f -> f.mode().equals(mode)).toList();
      Figure small = fs.stream().min((a, b) -> Integer.compare(a.services(), b.services())).get();
      Figure big = fs.stream().max((a, b) -> Integer.compare(a.services(), b.services())).get();
      if (small != big) {
        out.accept(
            String.format(
                Locale.ROOT,
                "%s: connect p50 at %d services / at %d: %.2fx (p99 %.2fx)",
                mode,
                big.services(),
                small.services(),
                big.viaService().p50() / small.viaService().p50(),
                big.viaService().p99() / small.viaService().p99()));
      }
    }
  }

  private static String triple(Stats s) {
    return String.format(Locale.ROOT, "%.0f / %.0f / %.0f", s.p50(), s.p90(), s.p99());
  }
}
