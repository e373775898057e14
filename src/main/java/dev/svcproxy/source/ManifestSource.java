package dev.svcproxy.source;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.EndpointSlice;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.Service;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Services and EndpointSlices from a manifest file or directory (*.yaml, *.yml, *.json, recursed,
 * hidden files ignored), re-read whenever a file changes.
 *
 * <p>A file caught while being written must never withdraw its Services: reading waits until every
 * file has settled (size and modification time unchanged for {@link #SETTLE}), and a file that is
 * empty, unreadable, not UTF-8, or has a document that is not valid YAML keeps its last good
 * contents in force until it reads cleanly again. Deleting a file does withdraw its objects. The
 * same object in two places is used once, from the first place in file order.
 *
 * <p>Each file's contents are kept, so a change re-reads only the files that changed; the state is
 * the union of all files' contents. Changes are found by file-system events (inotify on Linux) on
 * every directory, and by a slow stat scan as a fallback for what events miss (overflowed event
 * queues, files behind symlinks, a watch limit reached).
 */
public final class ManifestSource implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ManifestSource.class);

  /**
   * How long a file must stay unchanged before it is read: long enough for a writer that writes a
   * file in several calls, short enough to keep a change within the 300 ms write-to-kernel target.
   */
  static final Duration SETTLE = Duration.ofMillis(100);

  /** A file still changing after this long is read anyway (and kept at its last good if broken). */
  static final Duration MAX_SETTLE_WAIT = Duration.ofSeconds(5);

  /** Larger files are not read at all. */
  static final long MAX_FILE_BYTES = 64L * 1024 * 1024;

  /** The fallback stat scan while events are being delivered. */
  static final Duration RESCAN = Duration.ofSeconds(30);

  /** The scan when some directory could not be watched: events alone would miss its changes. */
  static final Duration DEGRADED_RESCAN = Duration.ofSeconds(2);

  private static final Duration SETTLE_STEP = Duration.ofMillis(50);

  /** Waits; a seam so tests can drive the settle loop without real time. */
  interface Sleeper {
    void sleep(Duration d) throws InterruptedException;
  }

  /** Reads a file's bytes; a seam so tests can make a file unreadable even as root. */
  interface Reader {
    byte[] read(Path p) throws IOException;
  }

  /**
   * A file's contents in force, the problems met reading it, the stat it was read at, and whether
   * it must be read again on the next scan even if unchanged (it was unreadable or kept its last
   * good contents; a fixed permission does not change the modification time).
   */
  private record Entry(
      Stat stat, ManifestSet used, List<ManifestProblem> problems, boolean retry) {}

  private final Path root;
  private final boolean single;
  private final Clock clock;
  private final Sleeper sleeper;
  private final Reader reader;
  private final Duration rescan;
  private final ManifestParser parser = new ManifestParser();
  private final Map<Path, ManifestSet> lastGood = new HashMap<>();
  private final TreeMap<Path, Entry> entries = new TreeMap<>();
  private final Map<WatchKey, Path> watched = new HashMap<>();
  private volatile WatchService watcher;
  private boolean degraded;
  private Thread thread;
  private volatile boolean closed;
  private List<ManifestProblem> lastProblems = List.of();

  /** The state last built, and the Services changed since, which alone are built again. */
  private ProxyState built;

  private final Set<ServiceKey> dirty = new HashSet<>();

  public ManifestSource(Path root) {
    this(root, Clock.systemUTC(), d -> Thread.sleep(d.toMillis()), Files::readAllBytes, RESCAN);
  }

  ManifestSource(Path root, Clock clock, Sleeper sleeper, Reader reader) {
    this(root, clock, sleeper, reader, RESCAN);
  }

  ManifestSource(Path root, Clock clock, Sleeper sleeper, Reader reader, Duration rescan) {
    if (!Files.exists(root)) {
      throw new IllegalArgumentException("--manifests " + root + ": no such file or directory");
    }
    this.root = root;
    this.single = Files.isRegularFile(root);
    this.clock = clock;
    this.sleeper = sleeper;
    this.reader = reader;
    this.rescan = rescan;
  }

  /**
   * Scans every manifest now, re-reading the files that changed since they were last read; problems
   * are logged (once per distinct set) and returned.
   */
  public synchronized Snapshot load() {
    scan();
    return snapshot();
  }

  /**
   * Walks and stats every file: vanished files are withdrawn, new, changed or retried ones read.
   * Returns whether the contents in force changed.
   */
  private boolean scan() {
    List<Path> files = files();
    Set<Path> present = new HashSet<>(files);
    boolean changed = false;
    for (Path f : new ArrayList<>(entries.keySet())) {
      if (!present.contains(f)) {
        changed |= remove(f);
      }
    }
    List<Path> stale = new ArrayList<>();
    for (Path f : files) {
      Entry e = entries.get(f);
      if (e == null || e.retry() || !e.stat().equals(stat(f))) {
        stale.add(f);
      }
    }
    return reread(stale) | changed;
  }

  /**
   * Brings the given paths up to date, each a file or a directory that was created, changed or
   * deleted. Returns whether the contents in force changed.
   */
  private boolean refresh(Set<Path> paths) {
    boolean changed = false;
    boolean scan = false;
    Set<Path> toRead = new TreeSet<>();
    for (Path p : paths) {
      if (!single && Files.isSymbolicLink(p) && Files.isDirectory(p)) {
        // A swapped directory link (a mounted ConfigMap's ..data) changes what file links
        // elsewhere point at, with no event on their names: only a scan finds them.
        scan = true;
      } else if (Files.isDirectory(p) && !single) {
        register(p);
        List<Path> inside = walk(p, true);
        changed |= withdraw(p, new HashSet<>(inside));
        toRead.addAll(inside);
      } else if (Files.isRegularFile(p) && (single || isManifest(p))) {
        toRead.add(p);
      } else {
        changed |= withdraw(p, Set.of());
      }
    }
    changed |= reread(new ArrayList<>(toRead));
    return scan ? scan() | changed : changed;
  }

  /** Drops the files at or under {@code p} except {@code keep}. */
  private boolean withdraw(Path p, Set<Path> keep) {
    boolean changed = false;
    for (Path f : new ArrayList<>(entries.keySet())) {
      if ((f.equals(p) || f.startsWith(p)) && !keep.contains(f)) {
        changed |= remove(f);
      }
    }
    return changed;
  }

  private boolean reread(List<Path> files) {
    if (files.isEmpty()) {
      return false;
    }
    awaitSettled(files);
    boolean changed = false;
    for (Path f : files) {
      Stat st = stat(f);
      if (st.modified() == null && !Files.exists(f)) {
        changed |= remove(f);
        continue;
      }
      List<ManifestProblem> problems = new ArrayList<>();
      boolean[] retry = {false};
      ManifestSet used = readFile(f, problems, retry);
      Entry before = entries.put(f, new Entry(st, used, List.copyOf(problems), retry[0]));
      // New problems alone count as a change too: they are logged when the state is made.
      changed |= before != null && !before.problems().equals(problems);
      if (before == null || !before.used().equals(used)) {
        changed = true;
        touch(used);
        if (before != null) {
          touch(before.used());
        }
      }
    }
    return changed;
  }

  private boolean remove(Path f) {
    lastGood.remove(f);
    Entry before = entries.remove(f);
    if (before == null) {
      return false;
    }
    touch(before.used());
    return true;
  }

  /** Marks the Services that {@code set} names, or that its slices belong to, for rebuilding. */
  private void touch(ManifestSet set) {
    for (ManifestSet.Item i : set.items()) {
      i.services().forEach(v -> dirty.add(new ServiceKey(v.namespace(), v.name())));
      i.slices().forEach(v -> dirty.add(new ServiceKey(v.namespace(), v.serviceName())));
    }
  }

  /** A Service's namespace and name: the unit of the state's rebuilding. */
  private record ServiceKey(String namespace, String name) {}

  /** The union of every file's contents in force, first in file then document order winning. */
  private Snapshot snapshot() {
    List<ManifestSet.Item> items = new ArrayList<>();
    List<ManifestProblem> problems = new ArrayList<>();
    for (Entry e : entries.values()) {
      items.addAll(e.used().items());
      problems.addAll(e.problems());
    }
    List<ManifestSet.Item> used = ManifestSet.firstOfEach(items, problems);
    if (!problems.equals(lastProblems)) {
      problems.forEach(p -> LOG.warn("manifest problem: {}", p));
      lastProblems = List.copyOf(problems);
    }
    ProxyState state =
        (built == null ? build(used) : rebuild(built, used))
            .withServiceCidrs(new ManifestSet(used, List.of(), false).serviceCidrs());
    built = state;
    dirty.clear();
    return new Snapshot(state, problems);
  }

  private static ProxyState build(List<ManifestSet.Item> used) {
    ManifestSet all = new ManifestSet(used, List.of(), false);
    return ProxyStateBuilder.build(all.services(), all.slices());
  }

  /**
   * The last state with only the touched Services built again: a Service's ports and endpoints
   * depend only on that Service and the slices that name it, so the rest is unchanged. Building 10k
   * Services takes tens of milliseconds; a change touches a few.
   */
  private ProxyState rebuild(ProxyState last, List<ManifestSet.Item> used) {
    if (dirty.isEmpty()) {
      return last;
    }
    List<Service> services = new ArrayList<>();
    List<EndpointSlice> slices = new ArrayList<>();
    for (ManifestSet.Item i : used) {
      for (Service v : i.services()) {
        if (dirty.contains(new ServiceKey(v.namespace(), v.name()))) {
          services.add(v);
        }
      }
      for (EndpointSlice v : i.slices()) {
        if (dirty.contains(new ServiceKey(v.namespace(), v.serviceName()))) {
          slices.add(v);
        }
      }
    }
    ProxyState part = ProxyStateBuilder.build(services, slices);
    TreeMap<ServicePortName, ServicePortInfo> ports = new TreeMap<>(last.services());
    Map<ServicePortName, List<Endpoint>> endpoints = new HashMap<>(last.endpoints());
    Predicate<ServicePortName> touched =
        n -> dirty.contains(new ServiceKey(n.namespace(), n.name()));
    ports.keySet().removeIf(touched);
    endpoints.keySet().removeIf(touched);
    ports.putAll(part.services());
    endpoints.putAll(part.endpoints());
    Map<String, List<Instant>> triggers = new HashMap<>(last.lastChangeTriggerTimes());
    triggers
        .keySet()
        .removeIf(
            k -> {
              int slash = k.indexOf('/');
              return dirty.contains(new ServiceKey(k.substring(0, slash), k.substring(slash + 1)));
            });
    triggers.putAll(part.lastChangeTriggerTimes());
    return new ProxyState(ports, endpoints, triggers);
  }

  /** The set of objects to use for {@code f} now: what it holds, or its last good contents. */
  private ManifestSet readFile(Path f, List<ManifestProblem> problems, boolean[] retry) {
    String name = f.toString();
    ManifestSet previous = lastGood.get(f);
    String text;
    try {
      text = decode(f);
    } catch (IOException e) {
      problems.add(new ManifestProblem(name, 0, describe(e) + keeping(previous)));
      retry[0] = true;
      return previous != null ? previous : empty();
    }
    ManifestSet set = parser.parse(name, text);
    problems.addAll(set.problems());
    if (set.unreadable() && previous != null) {
      problems.add(new ManifestProblem(name, 0, "not all of it could be read" + keeping(previous)));
      retry[0] = true;
      return previous;
    }
    if (text.isBlank() && previous != null && !previous.items().isEmpty()) {
      problems.add(
          new ManifestProblem(
              name,
              0,
              "the file is empty"
                  + keeping(previous)
                  + " (delete the file to withdraw its objects)"));
      retry[0] = true;
      return previous;
    }
    if (!set.unreadable()) {
      lastGood.put(f, set);
    }
    return set;
  }

  private static String keeping(ManifestSet previous) {
    return previous == null ? "" : "; keeping its last good contents until it reads cleanly";
  }

  private static ManifestSet empty() {
    return new ManifestSet(List.of(), List.of(), false);
  }

  private String decode(Path f) throws IOException {
    long size = Files.size(f);
    if (size > MAX_FILE_BYTES) {
      throw new IOException(
          "the file is too large: " + size + " bytes, more than the limit of " + MAX_FILE_BYTES);
    }
    byte[] bytes = reader.read(f);
    String s =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(bytes))
            .toString();
    return s.startsWith("\uFEFF") ? s.substring(1) : s;
  }

  private static String describe(IOException e) {
    if (e instanceof AccessDeniedException) {
      return "cannot read: permission denied";
    }
    if (e instanceof NoSuchFileException) {
      return "cannot read: the file vanished";
    }
    if (e instanceof CharacterCodingException) {
      return "cannot read: not UTF-8 text";
    }
    return "cannot read: " + e.getMessage();
  }

  /** A file's size and modification time, the signs that it is still being written. */
  private record Stat(long size, FileTime modified, Object fileKey) {}

  /** The file's stat; the file key (device and inode) tells a file replaced by a rename. */
  private static Stat stat(Path f) {
    try {
      BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
      return new Stat(a.size(), a.lastModifiedTime(), a.fileKey());
    } catch (IOException e) {
      return new Stat(-1, null, null);
    }
  }

  private static Map<Path, Stat> stats(List<Path> files) {
    Map<Path, Stat> out = new LinkedHashMap<>();
    for (Path f : files) {
      out.put(f, stat(f));
    }
    return out;
  }

  /**
   * Returns once every file is settled: modified at least {@link #SETTLE} ago, or seen unchanged
   * for that long (a clock-skewed or explicitly set modification time must not stall reading), or
   * after {@link #MAX_SETTLE_WAIT}.
   */
  private void awaitSettled(List<Path> files) {
    Instant start = clock.instant();
    Map<Path, Stat> seen = stats(files);
    Instant since = start;
    while (true) {
      Instant now = clock.instant();
      if (allOlderThanSettle(seen, now)
          || Duration.between(since, now).compareTo(SETTLE) >= 0
          || Duration.between(start, now).compareTo(MAX_SETTLE_WAIT) >= 0) {
        return;
      }
      try {
        sleeper.sleep(step(seen, since, now));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      Map<Path, Stat> cur = stats(files);
      if (!cur.equals(seen)) {
        seen = cur;
        since = clock.instant();
      }
    }
  }

  /**
   * The next wait: a step, or less when the files settle sooner, so that a change is read as soon
   * as it has settled rather than up to a step later.
   */
  private static Duration step(Map<Path, Stat> stats, Instant since, Instant now) {
    Instant settled = since.plus(SETTLE);
    Instant newest = Instant.MIN;
    for (Stat s : stats.values()) {
      if (s.modified() == null) {
        // Such a file settles only by staying unchanged.
        newest = Instant.MIN;
        break;
      }
      if (s.modified().toInstant().isAfter(newest)) {
        newest = s.modified().toInstant();
      }
    }
    if (newest.isAfter(Instant.MIN) && newest.plus(SETTLE).isBefore(settled)) {
      settled = newest.plus(SETTLE);
    }
    Duration left = Duration.between(now, settled);
    Duration min = Duration.ofMillis(1);
    return left.compareTo(min) < 0 ? min : left.compareTo(SETTLE_STEP) > 0 ? SETTLE_STEP : left;
  }

  private static boolean allOlderThanSettle(Map<Path, Stat> stats, Instant now) {
    Instant cutoff = now.minus(SETTLE);
    for (Stat s : stats.values()) {
      if (s.modified() == null || s.modified().toInstant().isAfter(cutoff)) {
        return false;
      }
    }
    return true;
  }

  /** A state and the problems met while building it. */
  public record Snapshot(ProxyState state, List<ManifestProblem> problems) {}

  /**
   * Watches for changes on a thread of its own and hands every changed state to {@code sink}. Idle,
   * the thread blocks on the event queue; it wakes for events and for the fallback scan.
   */
  public void watch(Consumer<ProxyState> sink) {
    // Watches are in place when this returns: a later change is never missed.
    synchronized (this) {
      startWatching();
    }
    thread = new Thread(() -> watchLoop(sink), "manifest-watch");
    thread.setDaemon(true);
    thread.start();
  }

  private void watchLoop(Consumer<ProxyState> sink) {
    try {
      // What changed between load() and the watches being in place is found by this scan.
      deliver(sink, Scan.PLAIN, Map.of());
      long nextScan = System.nanoTime() + period().toNanos();
      while (!closed) {
        long wait = Math.max(0, nextScan - System.nanoTime());
        WatchKey key =
            watcher == null ? sleepThenNothing(wait) : watcher.poll(wait, TimeUnit.NANOSECONDS);
        if (key == null) {
          deliver(sink, Scan.REREGISTER, Map.of());
          nextScan = System.nanoTime() + period().toNanos();
          continue;
        }
        Map<Path, List<WatchEvent<?>>> events = new LinkedHashMap<>();
        for (WatchKey k = key; k != null; k = watcher.poll()) {
          take(k, events);
        }
        boolean full = deliver(sink, Scan.NONE, events);
        if (full) {
          nextScan = System.nanoTime() + period().toNanos();
        }
      }
    } catch (InterruptedException | ClosedWatchServiceException e) {
      // closed
    }
  }

  private static WatchKey sleepThenNothing(long nanos) throws InterruptedException {
    TimeUnit.NANOSECONDS.sleep(nanos);
    return null;
  }

  private Duration period() {
    return degraded ? DEGRADED_RESCAN.compareTo(rescan) < 0 ? DEGRADED_RESCAN : rescan : rescan;
  }

  /** Moves a key's events into {@code events} under its directory and re-arms it. */
  private synchronized void take(WatchKey key, Map<Path, List<WatchEvent<?>>> events) {
    Path dir = watched.get(key);
    List<WatchEvent<?>> list = key.pollEvents();
    if (dir != null) {
      events.computeIfAbsent(dir, d -> new ArrayList<>()).addAll(list);
    }
    if (!key.reset()) {
      watched.remove(key);
    }
  }

  /** Whether a batch is a full scan, and whether that scan registers directories again. */
  private enum Scan {
    NONE,
    PLAIN,
    REREGISTER
  }

  /** Handles one batch of events (or a scan) and hands a changed state on; true after a scan. */
  private boolean deliver(
      Consumer<ProxyState> sink, Scan scan, Map<Path, List<WatchEvent<?>>> events) {
    try {
      Optional<Snapshot> s;
      boolean full;
      ProxyState before;
      synchronized (this) {
        before = built;
        full = scan != Scan.NONE || overflowed(events);
        if (scan == Scan.PLAIN) {
          s = scan() ? Optional.of(snapshot()) : Optional.empty();
        } else {
          s = full ? rescanNow() : changed(events);
        }
      }
      // The same state object comes back when only problems changed: nothing to hand on.
      s.filter(snap -> snap.state() != before).ifPresent(snap -> sink.accept(snap.state()));
      return full;
    } catch (RuntimeException e) {
      LOG.error("cannot load manifests: {}", Printable.escape(e.getMessage()));
      return false;
    }
  }

  private static boolean overflowed(Map<Path, List<WatchEvent<?>>> byDir) {
    return byDir.values().stream()
        .flatMap(List::stream)
        .anyMatch(e -> e.kind() == StandardWatchEventKinds.OVERFLOW);
  }

  /**
   * A full scan, as after lost events: every directory is registered again, since a directory
   * created while events were lost, or one that could not be watched, has no watch yet. Empty when
   * nothing changed.
   */
  synchronized Optional<Snapshot> rescanNow() {
    if (watcher != null) {
      registerAll();
    }
    return scan() ? Optional.of(snapshot()) : Optional.empty();
  }

  /**
   * Applies watch events, keyed by the directory they were reported on: only the files they name
   * are read again (and everything inside a new directory); an overflow means a full scan. Empty
   * when neither the contents in force nor the problems changed.
   */
  synchronized Optional<Snapshot> changed(Map<Path, List<WatchEvent<?>>> byDir) {
    if (overflowed(byDir)) {
      return rescanNow();
    }
    Set<Path> paths = new LinkedHashSet<>();
    for (Map.Entry<Path, List<WatchEvent<?>>> d : byDir.entrySet()) {
      for (WatchEvent<?> e : d.getValue()) {
        if (e.context() instanceof Path name) {
          Path p = d.getKey().resolve(name);
          if (single) {
            if (p.toAbsolutePath().equals(root.toAbsolutePath())) {
              paths.add(root);
            }
          } else {
            paths.add(p);
          }
        }
      }
    }
    return refresh(paths) ? Optional.of(snapshot()) : Optional.empty();
  }

  private void startWatching() {
    try {
      watcher = root.getFileSystem().newWatchService();
    } catch (IOException | UnsupportedOperationException e) {
      LOG.warn(
          "cannot watch {} for changes ({}); scanning it every {} s instead",
          Printable.escape(root.toString()),
          Printable.escape(String.valueOf(e.getMessage())),
          DEGRADED_RESCAN.toSeconds());
      degraded = true;
      return;
    }
    registerAll();
  }

  private void registerAll() {
    if (single) {
      Path parent = root.toAbsolutePath().getParent();
      if (parent != null) {
        register(parent);
      }
      return;
    }
    register(root);
  }

  /**
   * Watches {@code dir} and every directory under it, each before listing it: a directory created
   * meanwhile is then either listed here or reported by an event.
   */
  private void register(Path dir) {
    if (watcher == null || !watchOne(dir) || single) {
      return;
    }
    List<Path> children;
    try (Stream<Path> s = Files.list(dir)) {
      children = s.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).toList();
    } catch (IOException | UncheckedIOException e) {
      // Vanished meanwhile: its deletion event withdraws what it held.
      return;
    }
    for (Path c : children) {
      register(c);
    }
  }

  /** False when {@code dir} is gone. */
  private boolean watchOne(Path dir) {
    try {
      watched.put(
          dir.register(
              watcher,
              StandardWatchEventKinds.ENTRY_CREATE,
              StandardWatchEventKinds.ENTRY_DELETE,
              StandardWatchEventKinds.ENTRY_MODIFY),
          dir);
      return true;
    } catch (NoSuchFileException | NotDirectoryException e) {
      return false;
    } catch (IOException e) {
      if (!degraded) {
        LOG.warn(
            "cannot watch {} for changes ({}); scanning every {} s instead",
            Printable.escape(dir.toString()),
            Printable.escape(String.valueOf(e.getMessage())),
            DEGRADED_RESCAN.toSeconds());
      }
      degraded = true;
      return true;
    }
  }

  private List<Path> files() {
    if (single) {
      return Files.isRegularFile(root) ? List.of(root) : List.of();
    }
    // A missing --manifests directory is an error, not a withdrawal of everything.
    return walk(root, false);
  }

  private static List<Path> walk(Path dir, boolean missingOk) {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).filter(ManifestSource::isManifest).sorted().toList();
    } catch (NoSuchFileException e) {
      if (missingOk) {
        return List.of();
      }
      throw new UncheckedIOException(e);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static boolean isManifest(Path p) {
    String n = p.getFileName().toString();
    return !n.startsWith(".") && (n.endsWith(".yaml") || n.endsWith(".yml") || n.endsWith(".json"));
  }

  @Override
  public void close() {
    closed = true;
    if (thread != null) {
      thread.interrupt();
    }
    WatchService w = watcher;
    if (w != null) {
      try {
        w.close();
      } catch (IOException e) {
        // Nothing more to release.
      }
    }
  }
}
