package dev.svcproxy.bench;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The real `svcproxy run` process in a throw-away one-node lab, N ClusterIP Services x M endpoints
 * in manifest files: first full sync into an empty kernel, restart over an unchanged ruleset, one
 * endpoint added and removed (file write until the kernel holds it), idle CPU and resident memory;
 * beside each figure the bare-kernel floor measured on the same namespace with the same binaries.
 */
public final class SyncBenchmark {
  /** Highest N: service i gets endpoint addresses 10.(100 + i / 250).(i % 250).j. */
  public static final int MAX_SERVICES = 38_750;

  /** Highest M: one more endpoint is added in the change rounds, host numbers stop at 254. */
  public static final int MAX_ENDPOINTS = 250;

  private static final int SERVICES_PER_FILE = 100;

  /** Where iptables lives when PATH (e.g. a non-login root shell's) lacks the sbin folders. */
  private static final String[] SBIN = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};

  /** A floor not measured (--skip-floors). */
  public static final long SKIPPED = -3;

  private static final Pattern SYNCED =
      Pattern.compile("synced (?:iptables|nftables) \\((\\w+) sync.* in (\\d+) ms");

  /** Which iptables family the run process and the floors use. */
  public enum Backend {
    NFT("iptables-nft"),
    LEGACY("iptables-legacy"),
    /** nftables mode: the kube-proxy nft table, no iptables at all. */
    NFTABLES("nftables");

    private final String family;

    Backend(String family) {
      this.family = family;
    }

    public String family() {
      return family;
    }
  }

  /** What to measure. */
  public record Options(
      int services,
      int endpoints,
      Backend backend,
      int rounds,
      int idleSeconds,
      int batch,
      boolean floors,
      Duration floorTimeout,
      Duration syncTimeout) {
    public Options {
      if (services < 1 || services > MAX_SERVICES) {
        throw new IllegalArgumentException(
            "--services must be between 1 and " + MAX_SERVICES + ", got " + services);
      }
      if (endpoints < 1 || endpoints > MAX_ENDPOINTS) {
        throw new IllegalArgumentException(
            "--endpoints must be between 1 and " + MAX_ENDPOINTS + ", got " + endpoints);
      }
      if (rounds < 1) {
        throw new IllegalArgumentException("--rounds must be at least 1, got " + rounds);
      }
      if (idleSeconds < 1) {
        throw new IllegalArgumentException("--idle-seconds must be at least 1, got " + idleSeconds);
      }
      if (batch < 1) {
        throw new IllegalArgumentException("--batch must be at least 1, got " + batch);
      }
    }
  }

  /**
   * Every figure in milliseconds (or as named); -1 where a floor ran out of time. The kernel counts
   * are what the benchmark read back from the kernel after each step.
   */
  public record Report(
      Options options,
      String toolVersion,
      String loadName,
      String batchName,
      String serviceInputName,
      List<String> chainKinds,
      int renderLines,
      long bareRestoreMs,
      long batchedRestoreMs,
      int batches,
      long firstSyncMs,
      long firstSyncLoggedMs,
      int serviceChainsInKernel,
      int endpointChainsInKernel,
      String victimChain,
      int victimEndpointsAtStart,
      List<Long> addMs,
      List<Long> addLoggedMs,
      List<Long> removeMs,
      List<Long> removeLoggedMs,
      List<Long> changeFloorMs,
      int victimEndpointsAfterAdd,
      int victimEndpointsAfterRemove,
      double idleCpuPercent,
      long rssAfterChangesKiB,
      long rssKiB,
      long peakRssKiB,
      long restartMs,
      long restartLoggedMs,
      String jvmFlags) {}

  private final CommandRunner root;
  private final Options opt;
  private final Consumer<String> progress;

  private SyncBenchmark(CommandRunner root, Options opt, Consumer<String> progress) {
    this.root = root;
    this.opt = opt;
    this.progress = progress;
  }

  /** Runs every measurement in a new lab (removed after) and returns the figures. */
  public static Report run(CommandRunner root, Options opt, Consumer<String> progress) {
    try {
      return new SyncBenchmark(root, opt, progress).measure();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  private Report measure() throws IOException, InterruptedException {
    try (Lab lab = Lab.create(root, 1)) {
      Lab.Node node = lab.node("node1");
      CommandRunner ns = root.inNetns(node.netns());
      Path bin =
          opt.backend() == Backend.NFTABLES ? null : backendBin(lab.workDir().resolve("bin"));
      BenchKernel k =
          bin == null
              ? new NftablesBenchKernel(lab, node.netns())
              : new IptablesBenchKernel(ns, bin);
      String version = k.version();
      Path manifests = Files.createDirectories(lab.workDir().resolve("manifests"));
      writeManifests(manifests);
      List<String> runFlags = runFlags(k.mode(), node, manifests, lab.workDir().resolve("lock"));

      progress.accept("rendering " + opt.services() + " x " + opt.endpoints());
      CommandResult rendered =
          ns.run(command(bin, "render", runFlags), null, Duration.ofMinutes(10)).orThrow();
      String text = rendered.stdout();
      int renderLines = (int) text.lines().count();
      k.prepare(text);
      List<String> parts = k.batches(text, opt.batch());
      long bare = SKIPPED;
      long batched = SKIPPED;
      long t0;
      if (opt.floors()) {
        progress.accept("floor: " + k.loadName());
        k.empty();
        bare = k.load(text, opt.floorTimeout());
        k.empty();
        progress.accept("floor: the same text, " + opt.batch() + " " + k.batchName());
        t0 = System.nanoTime();
        batched = 0;
        for (String part : parts) {
          if (k.load(part, opt.floorTimeout()) < 0) {
            batched = -1;
            break;
          }
        }
        if (batched == 0) {
          batched = ms(System.nanoTime() - t0);
        }
        k.empty();
      }

      progress.accept("svcproxy run: first full sync into the empty kernel");
      Path lockDir = lab.workDir().resolve("lock");
      Path log1 = lab.workDir().resolve("run1.log");
      t0 = System.nanoTime();
      Spawned proc = lab.spawn(node.netns(), command(bin, "run", runFlags), log1);
      String firstSync = awaitSynced(proc, log1, 1, opt.syncTimeout());
      long first = ms(System.nanoTime() - t0);
      long pid = pid(lockDir);
      int[] counts = k.chainCounts();
      int victim = opt.services() / 2;
      String victimChain = k.serviceChain(clusterIp(victim));
      int atStart = k.endpoints(victimChain);

      List<Long> add = new ArrayList<>();
      List<Long> addLogged = new ArrayList<>();
      List<Long> remove = new ArrayList<>();
      List<Long> removeLogged = new ArrayList<>();
      List<Long> floor = new ArrayList<>();
      int afterAdd = -1;
      int afterRemove = -1;
      int file = victim / SERVICES_PER_FILE;
      int from = file * SERVICES_PER_FILE;
      int to = Math.min(opt.services(), from + SERVICES_PER_FILE);
      Path victimFile = manifests.resolve(fileName(file));
      for (int r = 0; r < opt.rounds(); r++) {
        progress.accept("round " + (r + 1) + ": one endpoint added, then removed");
        // Past the default 1 s minimum sync period: each change is timed from a quiet loop.
        Thread.sleep(1500);
        int logged = syncCount(log1);
        long w = System.nanoTime();
        Files.writeString(
            victimFile, ManifestWatchBenchmark.yaml(from, to, opt.endpoints(), victim));
        Change added = awaitChange(k, log1, logged, victimChain, opt.endpoints() + 1, w);
        afterAdd = added.endpoints();
        add.add(added.ms());
        addLogged.add(loggedAfter(log1, logged));
        if (opt.floors()) {
          floor.add(k.load(k.serviceInput(victimChain), opt.floorTimeout()));
        }
        Thread.sleep(1500);
        logged = syncCount(log1);
        w = System.nanoTime();
        Files.writeString(victimFile, ManifestWatchBenchmark.yaml(from, to, opt.endpoints(), -1));
        Change removed = awaitChange(k, log1, logged, victimChain, opt.endpoints(), w);
        afterRemove = removed.endpoints();
        remove.add(removed.ms());
        removeLogged.add(loggedAfter(log1, logged));
        if (opt.floors()) {
          floor.add(k.load(k.serviceInput(victimChain), opt.floorTimeout()));
        }
      }

      progress.accept("idle for " + opt.idleSeconds() + " s");
      Thread.sleep(2000);
      long rssAfterChanges = statusKiB(pid, "VmRSS");
      long cpu0 = cpuTicks(pid);
      long w0 = System.nanoTime();
      Thread.sleep(opt.idleSeconds() * 1000L);
      long cpu = cpuTicks(pid) - cpu0;
      double idle = 100.0 * (cpu * 1e9 / clockTicks(ns)) / (System.nanoTime() - w0);
      long rss = statusKiB(pid, "VmRSS");
      long hwm = statusKiB(pid, "VmHWM");

      progress.accept("restart over the unchanged ruleset");
      proc.close();
      Path log2 = lab.workDir().resolve("run2.log");
      t0 = System.nanoTime();
      Spawned proc2 = lab.spawn(node.netns(), command(bin, "run", runFlags), log2);
      String restartSync = awaitSynced(proc2, log2, 1, opt.syncTimeout());
      long restart = ms(System.nanoTime() - t0);
      proc2.close();
      return new Report(
          opt,
          version,
          k.loadName(),
          k.batchName(),
          k.serviceInputName(),
          k.chainKinds(),
          renderLines,
          bare,
          batched,
          parts.size(),
          first,
          loggedMs(firstSync),
          counts[0],
          counts[1],
          victimChain,
          atStart,
          add,
          addLogged,
          remove,
          removeLogged,
          floor,
          afterAdd,
          afterRemove,
          idle,
          rssAfterChanges,
          rss,
          hwm,
          restart,
          loggedMs(restartSync),
          String.join(" ", jvmFlags()));
    }
  }

  /** The nfacct counters a restore text names (--nfacct-name), in first-use order. */
  static List<String> nfacctCounters(String text) {
    java.util.LinkedHashSet<String> names = new java.util.LinkedHashSet<>();
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("--nfacct-name (\\S+)").matcher(text);
    while (m.find()) {
      names.add(m.group(1));
    }
    return List.copyOf(names);
  }

  /** Prints the report as a table: figure, svcproxy, floor, ratio. */
  public static void print(Report r, Consumer<String> out) {
    Options o = r.options();
    out.accept(
        String.format(
            Locale.ROOT,
            "bench sync: %d ClusterIP services x %d endpoints, %s (%s), %d cores",
            o.services(),
            o.endpoints(),
            o.backend().family(),
            r.toolVersion(),
            Runtime.getRuntime().availableProcessors()));
    out.accept(
        String.format(
            Locale.ROOT,
            "render: %d lines; %d %s and %d %s chains in the kernel after the first sync;"
                + " JVM flags of run: %s",
            r.renderLines(),
            r.serviceChainsInKernel(),
            r.chainKinds().get(0),
            r.endpointChainsInKernel(),
            r.chainKinds().get(1),
            r.jvmFlags().isEmpty() ? "(none)" : r.jvmFlags()));
    String fmt = "%-46s %14s  %-44s %12s %7s";
    out.accept(
        String.format(
            Locale.ROOT, fmt, "figure", "svcproxy", "floor (same namespace)", "floor", "ratio"));
    row(
        out,
        fmt,
        "(a) first full sync, empty kernel",
        r.firstSyncMs(),
        r.loadName(),
        r.bareRestoreMs());
    row(
        out,
        fmt,
        "    (process start -> every chain loaded)",
        r.firstSyncMs(),
        "same text, " + o.batch() + " " + r.batchName() + " (" + r.batches() + ")",
        r.batchedRestoreMs());
    row(out, fmt, "    of which the sync itself (logged)", r.firstSyncLoggedMs(), "", -2);
    row(
        out,
        fmt,
        "(b) restart over the unchanged ruleset",
        r.restartMs(),
        r.loadName(),
        r.bareRestoreMs());
    row(out, fmt, "    of which the sync itself (logged)", r.restartLoggedMs(), "", -2);
    long floor = r.changeFloorMs().isEmpty() ? SKIPPED : median(r.changeFloorMs());
    row(
        out,
        fmt,
        "(c) endpoint added, write -> kernel, median",
        median(r.addMs()),
        r.serviceInputName() + ", median",
        floor);
    row(out, fmt, "    max of " + r.addMs().size(), max(r.addMs()), "", -2);
    row(out, fmt, "    of which the sync itself (logged), median", median(r.addLoggedMs()), "", -2);
    row(
        out,
        fmt,
        "(c) endpoint removed, write -> kernel, median",
        median(r.removeMs()),
        r.serviceInputName() + ", median",
        floor);
    row(out, fmt, "    max of " + r.removeMs().size(), max(r.removeMs()), "", -2);
    row(
        out,
        fmt,
        "    of which the sync itself (logged), median",
        median(r.removeLoggedMs()),
        "",
        -2);
    out.accept(
        String.format(
            Locale.ROOT,
            fmt,
            "(d) idle CPU over " + o.idleSeconds() + " s",
            String.format(Locale.ROOT, "%.2f %%", r.idleCpuPercent()),
            "(nothing to do: 0)",
            "0 %",
            ""));
    out.accept(
        String.format(
            Locale.ROOT,
            fmt,
            "(e) RSS after the changes",
            String.format(Locale.ROOT, "%d MiB", r.rssAfterChangesKiB() / 1024),
            "",
            "",
            ""));
    out.accept(
        String.format(
            Locale.ROOT,
            fmt,
            "(e) RSS after idle (steady) / peak (VmHWM)",
            String.format(Locale.ROOT, "%d/%d MiB", r.rssKiB() / 1024, r.peakRssKiB() / 1024),
            "",
            "",
            ""));
    out.accept(
        String.format(
            Locale.ROOT,
            "kernel check: %s has %d endpoints at start, %d after the add, %d after the remove"
                + " (expected %d, %d, %d)",
            r.victimChain(),
            r.victimEndpointsAtStart(),
            r.victimEndpointsAfterAdd(),
            r.victimEndpointsAfterRemove(),
            o.endpoints(),
            o.endpoints() + 1,
            o.endpoints()));
    if (o.backend() == Backend.NFTABLES) {
      out.accept(
          "(c) write -> kernel: until the run logged the sync that made the change (its nft -f"
              + " returned: the kernel acknowledged the commit); the chain is listed afterwards,"
              + " untimed, since nft lists one chain only after fetching the whole table");
    }
  }

  private static void row(
      Consumer<String> out, String fmt, String what, long ms, String floorName, long floor) {
    String f;
    String ratio = "";
    if (floor == -2) {
      f = "";
    } else if (floor == SKIPPED) {
      f = "skipped";
    } else if (floor < 0) {
      f = "timed out";
    } else {
      f = floor + " ms";
      ratio = floor == 0 ? "inf" : String.format(Locale.ROOT, "%.2f", (double) ms / floor);
    }
    out.accept(
        String.format(Locale.ROOT, fmt, what, ms < 0 ? "n/a" : ms + " ms", floorName, f, ratio));
  }

  /** A directory where iptables, iptables-save and iptables-restore are the chosen backend's. */
  private Path backendBin(Path dir) throws IOException {
    Files.createDirectories(dir);
    for (String tool : List.of("", "-save", "-restore")) {
      String name = opt.backend().family() + tool;
      Path target =
          Stream.of(System.getenv().getOrDefault("PATH", "").split(":"), SBIN)
              .flatMap(Stream::of)
              .filter(d -> !d.isEmpty())
              .map(d -> Path.of(d, name))
              .filter(Files::isExecutable)
              .findFirst()
              .orElseThrow(() -> new IllegalStateException(name + " is not installed"));
      Files.createSymbolicLink(dir.resolve("iptables" + tool), target);
    }
    return dir;
  }

  private void writeManifests(Path dir) throws IOException {
    int files = (opt.services() + SERVICES_PER_FILE - 1) / SERVICES_PER_FILE;
    for (int f = 0; f < files; f++) {
      int from = f * SERVICES_PER_FILE;
      int to = Math.min(opt.services(), from + SERVICES_PER_FILE);
      Files.writeString(
          dir.resolve(fileName(f)), ManifestWatchBenchmark.yaml(from, to, opt.endpoints(), -1));
    }
  }

  private static String fileName(int f) {
    return String.format(Locale.ROOT, "svc-%05d.yaml", f);
  }

  private static String clusterIp(int i) {
    return "10.96." + (i / 250) + "." + (i % 250 + 1);
  }

  private static List<String> runFlags(String mode, Lab.Node node, Path manifests, Path lockDir) {
    List<String> flags =
        new ArrayList<>(List.of("--mode", mode, "--manifests", manifests.toString()));
    flags.addAll(ProxyProcess.nodeFlags(node, lockDir));
    return flags;
  }

  /**
   * `svcproxy CMD FLAGS` on this JVM with this JVM's own flags (the launcher's, when started by
   * it), the chosen backend first on PATH. Render takes no --lock-dir, so it is left out there.
   */
  private static List<String> command(Path bin, String cmd, List<String> flags) {
    List<String> argv = new ArrayList<>();
    argv.add("env");
    String path = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    argv.add("PATH=" + (bin == null ? path : bin + ":" + path));
    argv.add(ProcessHandle.current().info().command().orElse("java"));
    argv.addAll(jvmFlags());
    argv.add("-cp");
    argv.add(System.getProperty("java.class.path"));
    argv.add("dev.svcproxy.cli.Main");
    argv.add(cmd);
    for (int i = 0; i < flags.size(); i++) {
      if (cmd.equals("render") && flags.get(i).equals("--lock-dir")) {
        i++;
        continue;
      }
      argv.add(flags.get(i));
    }
    return argv;
  }

  /** This JVM's flags that shape memory and startup; agents and debuggers are not passed on. */
  static List<String> jvmFlags() {
    return ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("-X") || a.startsWith("-XX:"))
        .toList();
  }

  /** The kernel's endpoint count once the change was seen, and milliseconds from the write. */
  private record Change(int endpoints, long ms) {}

  /**
   * Waits until the kernel holds {@code want} endpoints for {@code chain}. A kernel that reads back
   * fast is polled, and the change timed when it shows. One that is slow to read ({@link
   * BenchKernel#slowToRead}) is timed to the run's log line of the sync that made the change,
   * written after the kernel acknowledged the commit; the kernel is read after each such sync,
   * untimed, to check it holds the change.
   */
  private Change awaitChange(
      BenchKernel k, Path log, int before, String chain, int want, long since)
      throws InterruptedException {
    long end = since + opt.syncTimeout().toNanos();
    int seen = before;
    while (System.nanoTime() < end) {
      if (!k.slowToRead()) {
        int n = k.endpoints(chain);
        if (n == want) {
          return new Change(n, ms(System.nanoTime() - since));
        }
        Thread.sleep(5);
        continue;
      }
      if (syncCount(log) <= seen) {
        Thread.sleep(5);
        continue;
      }
      long at = System.nanoTime();
      seen++;
      int n = k.endpoints(chain);
      if (n == want) {
        return new Change(n, ms(at - since));
      }
    }
    throw new IllegalStateException(chain + " did not reach " + want + " endpoints in time");
  }

  /** Waits until {@code log} holds {@code times} "synced iptables" lines; returns the last. */
  private static String awaitSynced(Spawned proc, Path log, int times, Duration timeout)
      throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < end) {
      List<String> lines = syncedLines(log);
      if (lines.size() >= times) {
        return lines.get(times - 1);
      }
      if (!proc.isAlive()) {
        throw new IllegalStateException("svcproxy run exited:\n" + read(log));
      }
      Thread.sleep(10);
    }
    throw new IllegalStateException("svcproxy run did not sync in " + timeout + ":\n" + read(log));
  }

  private static List<String> syncedLines(Path log) {
    return read(log).lines().filter(l -> SYNCED.matcher(l).find()).toList();
  }

  private static int syncCount(Path log) {
    return syncedLines(log).size();
  }

  /** The logged duration of the first sync after {@code before} syncs (-1: none logged in 2 s). */
  private static long loggedAfter(Path log, int before) throws InterruptedException {
    for (int i = 0; i < 200; i++) {
      List<String> lines = syncedLines(log);
      if (lines.size() > before) {
        return loggedMs(lines.get(before));
      }
      Thread.sleep(10);
    }
    return -1;
  }

  private static long loggedMs(String line) {
    Matcher m = SYNCED.matcher(line);
    return m.find() ? Long.parseLong(m.group(2)) : -1;
  }

  private static String read(Path p) {
    try {
      return Files.exists(p) ? Files.readString(p) : "";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The run's pid, from its run lock (the JVM's own pid, whatever started it). */
  private static long pid(Path lockDir) throws IOException {
    try (Stream<Path> s = Files.list(lockDir)) {
      Path lock = s.filter(p -> p.toString().endsWith(".lock")).findFirst().orElseThrow();
      return Long.parseLong(Files.readString(lock).strip());
    }
  }

  /** utime + stime of a process, in clock ticks. */
  private static long cpuTicks(long pid) throws IOException {
    String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
    // The command name may hold spaces: fields count from after its closing parenthesis.
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Long.parseLong(f[11]) + Long.parseLong(f[12]);
  }

  private static long clockTicks(CommandRunner ns) {
    CommandResult r = ns.run("getconf", "CLK_TCK");
    return r.ok() ? Long.parseLong(r.stdout().strip()) : 100;
  }

  private static long statusKiB(long pid, String field) throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
      if (l.startsWith(field + ":")) {
        return Long.parseLong(l.substring(field.length() + 1).replace("kB", "").strip());
      }
    }
    return -1;
  }

  private static long ms(long nanos) {
    return nanos / 1_000_000;
  }

  static long median(List<Long> xs) {
    if (xs.isEmpty()) {
      return -1;
    }
    List<Long> s = xs.stream().sorted(Comparator.naturalOrder()).toList();
    return s.get(s.size() / 2);
  }

  static long max(List<Long> xs) {
    return xs.stream().mapToLong(Long::longValue).max().orElse(-1);
  }
}
