package dev.svcproxy.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.Locale;

/**
 * A process {@link DataplaneBenchmark} runs inside a lab namespace: {@code listen PORT} accepts and
 * closes connections; {@code connect IP PORT COUNT WARMUP} times COUNT blocking TCP connects (SYN
 * to SYN-ACK: the first packet of each connection is the one netfilter's nat hooks evaluate) and
 * prints one line of figures in microseconds. A JVM in the namespace, not a tool per connection, so
 * process start-up is not part of what is timed.
 */
public final class ConnectProbe {
  private ConnectProbe() {}

  public static void main(String[] args) throws IOException {
    if (args.length == 2 && args[0].equals("listen")) {
      listen(Integer.parseInt(args[1]));
    } else if (args.length == 5 && args[0].equals("connect")) {
      System.out.println(
          connect(
              args[1],
              Integer.parseInt(args[2]),
              Integer.parseInt(args[3]),
              Integer.parseInt(args[4])));
    } else {
      System.err.println("usage: listen PORT | connect IP PORT COUNT WARMUP");
      System.exit(2);
    }
  }

  private static void listen(int port) throws IOException {
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(true);
      s.bind(new InetSocketAddress(port), 4096);
      System.out.println("listening " + port);
      System.out.flush();
      while (true) {
        s.accept().close();
      }
    }
  }

  /** "ok=N failed=F p50=.. p90=.. p99=.. mean=.." in microseconds over the timed connects. */
  static String connect(String ip, int port, int count, int warmup) {
    InetSocketAddress to = new InetSocketAddress(ip, port);
    long[] took = new long[count];
    int ok = 0;
    int failed = 0;
    for (int i = 0; i < warmup + count; i++) {
      long t0 = System.nanoTime();
      try (SocketChannel ch = SocketChannel.open()) {
        ch.socket().connect(to, 2000);
        long t = System.nanoTime() - t0;
        if (i >= warmup) {
          took[ok++] = t;
        }
      } catch (IOException e) {
        if (i >= warmup) {
          if (failed++ == 0) {
            System.err.println("first failed connect: " + e);
          }
        }
      }
    }
    long[] xs = Arrays.copyOf(took, ok);
    Arrays.sort(xs);
    double mean = Arrays.stream(xs).average().orElse(Double.NaN);
    return String.format(
        Locale.ROOT,
        "ok=%d failed=%d p50=%.1f p90=%.1f p99=%.1f mean=%.1f",
        ok,
        failed,
        pct(xs, 50),
        pct(xs, 90),
        pct(xs, 99),
        mean / 1e3);
  }

  private static double pct(long[] sorted, int p) {
    if (sorted.length == 0) {
      return Double.NaN;
    }
    int i = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e3;
  }
}
