package dev.svcproxy.bench;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.source.ManifestSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * How fast the manifest source turns a file write into a new state, and what it costs idle: N
 * Services with E endpoints each, laid out in a given number of files, one file rewritten with one
 * endpoint more at a time. The time includes the settle wait (a file is read once unchanged for 200
 * ms), which is the floor.
 */
public final class ManifestWatchBenchmark {
  private ManifestWatchBenchmark() {}

  public static void run(
      int services, int endpoints, int files, int changes, int idleSeconds, Consumer<String> out) {
    Path dir;
    try {
      dir = Files.createTempDirectory("svcproxy-bench-manifests");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try {
      measure(dir, services, endpoints, files, changes, idleSeconds, out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      delete(dir);
    }
  }

  private static void measure(
      Path dir,
      int services,
      int endpoints,
      int files,
      int changes,
      int idleSeconds,
      Consumer<String> out)
      throws IOException, InterruptedException {
    int perFile = (services + files - 1) / files;
    Instant old = Instant.now().minusSeconds(60);
    for (int f = 0; f < files; f++) {
      Path p = file(dir, f);
      Files.writeString(p, yaml(f * perFile, Math.min(services, (f + 1) * perFile), endpoints, -1));
      Files.setLastModifiedTime(p, FileTime.from(old));
    }
    out.accept(
        String.format(
            Locale.ROOT,
            "%d services x %d endpoints in %d files (%d services per file)",
            services,
            endpoints,
            files,
            perFile));

    try (ManifestSource source = new ManifestSource(dir)) {
      long t0 = System.nanoTime();
      ProxyState first = source.load().state();
      out.accept(
          String.format(
              Locale.ROOT,
              "  first load: %.0f ms, %d service ports, %d endpoints",
              ms(System.nanoTime() - t0),
              first.services().size(),
              first.totalEndpoints()));

      BlockingQueue<long[]> arrivals = new LinkedBlockingQueue<>();
      source.watch(s -> arrivals.add(new long[] {System.nanoTime(), s.totalEndpoints()}));
      Thread watcher = watchThread();
      List<Double> latencies = new ArrayList<>();
      int expected = first.totalEndpoints();
      for (int c = 0; c < changes; c++) {
        int f = (c * 7) % files;
        int from = f * perFile;
        int to = Math.min(services, (f + 1) * perFile);
        expected++;
        String text = yaml(from, to, endpoints, from + (c % Math.max(1, to - from)));
        // Quiet before each write, so that one change is timed at a time.
        Thread.sleep(500);
        arrivals.clear();
        long w = System.nanoTime();
        Files.writeString(file(dir, f), text);
        long[] got;
        do {
          got = arrivals.poll(60, TimeUnit.SECONDS);
          if (got == null) {
            out.accept("  change " + c + ": no new state within 60 s");
            return;
          }
        } while (got[1] != expected);
        latencies.add(ms(got[0] - w));
        // Back to the original contents, so the next change is again exactly one endpoint more.
        Thread.sleep(500);
        Files.writeString(file(dir, f), yaml(from, to, endpoints, -1));
        expected--;
        do {
          got = arrivals.poll(60, TimeUnit.SECONDS);
          if (got == null) {
            out.accept("  revert " + c + ": no new state within 60 s");
            return;
          }
        } while (got[1] != expected);
      }
      latencies.sort(Comparator.naturalOrder());
      out.accept(
          String.format(
              Locale.ROOT,
              "  file write -> new state (%d changes): min %.0f ms, median %.0f ms, max %.0f ms"
                  + " (floor: the %d ms settle wait)",
              latencies.size(),
              latencies.get(0),
              latencies.get(latencies.size() / 2),
              latencies.get(latencies.size() - 1),
              200));

      if (idleSeconds > 0 && watcher != null) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        Thread.sleep(1000);
        long cpu0 = mx.getThreadCpuTime(watcher.threadId());
        long t1 = System.nanoTime();
        Thread.sleep(idleSeconds * 1000L);
        long cpu = mx.getThreadCpuTime(watcher.threadId()) - cpu0;
        long wall = System.nanoTime() - t1;
        out.accept(
            String.format(
                Locale.ROOT,
                "  idle %d s: watch thread CPU %.1f ms = %.3f%% of a core"
                    + " (includes any fallback scan in the window)",
                idleSeconds,
                ms(cpu),
                100.0 * cpu / wall));
      }
    }
  }

  private static Thread watchThread() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().equals("manifest-watch"))
        .findFirst()
        .orElse(null);
  }

  private static Path file(Path dir, int f) {
    return dir.resolve(String.format(Locale.ROOT, "svc-%05d.yaml", f));
  }

  /** Services {@code from} to {@code to}, the one numbered {@code extra} with one endpoint more. */
  static String yaml(int from, int to, int endpoints, int extra) {
    StringBuilder b = new StringBuilder();
    for (int i = from; i < to; i++) {
      String ip = "10.96." + (i / 250) + "." + (i % 250 + 1);
      b.append("---\napiVersion: v1\nkind: Service\nmetadata: {namespace: bench, name: svc")
          .append(i)
          .append("}\nspec:\n  type: ClusterIP\n  clusterIP: ")
          .append(ip)
          .append("\n  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]\n");
      b.append("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n")
          .append("  namespace: bench\n  name: svc")
          .append(i)
          .append("-1\n  labels: {kubernetes.io/service-name: svc")
          .append(i)
          .append("}\naddressType: IPv4\nendpoints:\n");
      int n = endpoints + (i == extra ? 1 : 0);
      for (int j = 0; j < n; j++) {
        b.append("- {addresses: [10.")
            .append(100 + i / 250)
            .append('.')
            .append(i % 250)
            .append('.')
            .append(j + 1)
            .append("], conditions: {ready: true}}\n");
      }
      b.append("ports: [{name: http, port: 8080, protocol: TCP}]\n");
    }
    return b.toString();
  }

  private static double ms(long nanos) {
    return nanos / 1e6;
  }

  private static void delete(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      // A temporary directory left behind is harmless.
    }
  }
}
