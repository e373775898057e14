package dev.svcproxy.bench;

import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.render.iptables.IptablesRenderer;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * How long a trace of a large iptables-save takes: parse the dump and trace a pod's packet to the
 * last Service in KUBE-SERVICES (the worst case of the linear chain), cold and warm.
 */
public final class TraceBenchmark {
  private TraceBenchmark() {}

  public static void run(int services, int endpoints, int iterations, Consumer<String> out) {
    ProxyState state = ResyncBenchmark.services(services, endpoints);
    ProxyConfig cfg =
        ProxyConfig.defaults(
            "n",
            "192.168.77.11",
            new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.244.0.0/16"));
    String dump =
        dev.svcproxy.render.iptables.JumpRules.onNode(
                new IptablesRenderer(cfg, IptablesOptions.defaults(), KernelCapabilities.none())
                    .render(state)
                    .restoreInput())
            .print();
    long rules = dump.lines().filter(l -> l.startsWith("-A ")).count();
    Map<String, String> files = new LinkedHashMap<>();
    files.put("iptables-save.txt", dump);
    files.putAll(nodeFiles());
    String last = state.services().lastEntry().getValue().clusterIP();
    PacketSpec packet = new PacketSpec("10.244.1.5", 40000, last, 80, "tcp", "cni0");
    out.accept(
        String.format(
            "iptables-save of %d rules (%d services x %d endpoints), %d KB",
            rules, services, endpoints, dump.length() / 1024));
    long[] total = new long[iterations];
    for (int i = 0; i < iterations; i++) {
      long t0 = System.nanoTime();
      NodeState node = BundleReader.fromFiles(files);
      long t1 = System.nanoTime();
      TraceResult r = new Tracer(node).trace(packet);
      long t2 = System.nanoTime();
      total[i] = (t2 - t0) / 1_000_000;
      if (i == 0 || i == iterations - 1) {
        out.accept(
            String.format(
                "run %d: parse %d ms, trace %d ms (%d outcomes), total %d ms",
                i + 1,
                (t1 - t0) / 1_000_000,
                (t2 - t1) / 1_000_000,
                r.outcomes().size(),
                total[i]));
      }
    }
    long[] sorted = total.clone();
    Arrays.sort(sorted);
    out.accept(
        String.format(
            "parse+trace: first %d ms, median %d ms, best %d ms over %d runs",
            total[0], sorted[iterations / 2], sorted[0], iterations));
  }

  /**
   * How long a trace of {@code rules} chained 50% statistic rules takes (2^rules paths): once where
   * every rule leads to the same state (KUBE-MARK-MASQ, the paths merge) and once where each rule
   * sets its own mark bit (2^rules distinct states, bounded by the outcome limit).
   */
  public static void statisticChain(int rules, int iterations, Consumer<String> out) {
    for (boolean distinct : new boolean[] {false, true}) {
      StringBuilder b =
          new StringBuilder(
              "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-MARK-MASQ - [0:0]\n");
      for (int i = 0; i < rules; i++) {
        b.append("-A PREROUTING -m statistic --mode random --probability 0.50000000000 -j ")
            .append(
                distinct
                    ? String.format(Locale.ROOT, "MARK --or-mark 0x%x", 1L << (i % 32))
                    : "KUBE-MARK-MASQ")
            .append('\n');
      }
      b.append("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n")
          .append("-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE\nCOMMIT\n");
      Map<String, String> files = new LinkedHashMap<>(nodeFiles());
      files.put("iptables-save.txt", b.toString());
      NodeState node = BundleReader.fromFiles(files);
      PacketSpec packet = new PacketSpec("10.244.1.5", 40000, "10.244.2.7", 80, "tcp", "cni0");
      long[] ms = new long[iterations];
      TraceResult r = null;
      for (int i = 0; i < iterations; i++) {
        long t0 = System.nanoTime();
        r = new Tracer(node).trace(packet);
        ms[i] = (System.nanoTime() - t0) / 1_000_000;
      }
      long[] sorted = ms.clone();
      Arrays.sort(sorted);
      out.accept(
          String.format(
              Locale.ROOT,
              "%d chained 50%% statistic rules, %s: %d outcomes; trace first %d ms, median %d ms,"
                  + " best %d ms over %d runs",
              rules,
              distinct ? "each setting its own mark bit" : "each jumping to KUBE-MARK-MASQ",
              r.outcomes().size(),
              ms[0],
              sorted[iterations / 2],
              sorted[0],
              iterations));
    }
  }

  private static Map<String, String> nodeFiles() {
    Map<String, String> files = new LinkedHashMap<>();
    files.put(
        "ip-addr.json",
        "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
            + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.77.11\",\"prefixlen\":24}]},"
            + "{\"ifname\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.244.1.1\",\"prefixlen\":24}]}]");
    files.put("sysctl.txt", "net.ipv4.ip_forward = 1\n");
    files.put(
        "ip-route.json",
        "[{\"dst\":\"default\",\"gateway\":\"192.168.77.1\",\"dev\":\"eth0\"},"
            + "{\"dst\":\"192.168.77.0/24\",\"dev\":\"eth0\",\"prefsrc\":\"192.168.77.11\"},"
            + "{\"dst\":\"10.244.1.0/24\",\"dev\":\"cni0\",\"prefsrc\":\"10.244.1.1\"},"
            + "{\"type\":\"local\",\"dst\":\"192.168.77.11\",\"dev\":\"eth0\",\"table\":\"local\"},"
            + "{\"type\":\"local\",\"dst\":\"10.244.1.1\",\"dev\":\"cni0\",\"table\":\"local\"},"
            + "{\"type\":\"local\",\"dst\":\"127.0.0.0/8\",\"dev\":\"lo\",\"table\":\"local\"}]");
    return files;
  }
}
