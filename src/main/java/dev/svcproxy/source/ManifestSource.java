package dev.svcproxy.source;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
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
 */
public final class ManifestSource implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ManifestSource.class);
  private static final long POLL_MS = 200;

  /** How long a file must stay unchanged before it is read. */
  static final Duration SETTLE = Duration.ofMillis(200);

  /** A file still changing after this long is read anyway (and kept at its last good if broken). */
  static final Duration MAX_SETTLE_WAIT = Duration.ofSeconds(5);

  /** Larger files are not read at all. */
  static final long MAX_FILE_BYTES = 64L * 1024 * 1024;

  private static final Duration SETTLE_STEP = Duration.ofMillis(50);

  /** Waits; a seam so tests can drive the settle loop without real time. */
  interface Sleeper {
    void sleep(Duration d) throws InterruptedException;
  }

  /** Reads a file's bytes; a seam so tests can make a file unreadable even as root. */
  interface Reader {
    byte[] read(Path p) throws IOException;
  }

  private final Path root;
  private final Clock clock;
  private final Sleeper sleeper;
  private final Reader reader;
  private final ManifestParser parser = new ManifestParser();
  private final Map<Path, ManifestSet> lastGood = new HashMap<>();
  private Thread thread;
  private volatile boolean closed;
  private String fingerprint = "";
  private List<ManifestProblem> lastProblems = List.of();

  public ManifestSource(Path root) {
    this(root, Clock.systemUTC(), d -> Thread.sleep(d.toMillis()), Files::readAllBytes);
  }

  ManifestSource(Path root, Clock clock, Sleeper sleeper, Reader reader) {
    if (!Files.exists(root)) {
      throw new IllegalArgumentException("--manifests " + root + ": no such file or directory");
    }
    this.root = root;
    this.clock = clock;
    this.sleeper = sleeper;
    this.reader = reader;
  }

  /** Reads every manifest now; problems are logged (once per distinct set) and returned. */
  public synchronized Snapshot load() {
    List<ManifestSet.Item> items = new ArrayList<>();
    List<ManifestProblem> problems = new ArrayList<>();
    List<Path> files = files();
    lastGood.keySet().retainAll(files);
    awaitSettled(files);
    for (Path f : files) {
      items.addAll(readFile(f, problems).items());
    }
    List<ManifestSet.Item> used = ManifestSet.firstOfEach(items, problems);
    if (!problems.equals(lastProblems)) {
      problems.forEach(p -> LOG.warn("manifest problem: {}", p));
      lastProblems = List.copyOf(problems);
    }
    ManifestSet all = new ManifestSet(used, List.of(), false);
    return new Snapshot(ProxyStateBuilder.build(all.services(), all.slices()), problems);
  }

  /** The set of objects to use for {@code f} now: what it holds, or its last good contents. */
  private ManifestSet readFile(Path f, List<ManifestProblem> problems) {
    String name = f.toString();
    ManifestSet previous = lastGood.get(f);
    String text;
    try {
      text = decode(f);
    } catch (IOException e) {
      problems.add(new ManifestProblem(name, 0, describe(e) + keeping(previous)));
      return previous != null ? previous : empty();
    }
    ManifestSet set = parser.parse(name, text);
    problems.addAll(set.problems());
    if (set.unreadable() && previous != null) {
      problems.add(new ManifestProblem(name, 0, "not all of it could be read" + keeping(previous)));
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
  private record Stat(long size, FileTime modified) {}

  private Map<Path, Stat> stats(List<Path> files) {
    Map<Path, Stat> out = new LinkedHashMap<>();
    for (Path f : files) {
      try {
        out.put(f, new Stat(Files.size(f), Files.getLastModifiedTime(f)));
      } catch (IOException e) {
        out.put(f, new Stat(-1, null));
      }
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
        sleeper.sleep(SETTLE_STEP);
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

  /** Polls for changes and hands every changed state to {@code sink}. */
  public void watch(Consumer<ProxyState> sink) {
    fingerprint = fingerprint();
    thread =
        new Thread(
            () -> {
              while (!closed) {
                try {
                  Thread.sleep(POLL_MS);
                } catch (InterruptedException e) {
                  return;
                }
                String fp = fingerprint();
                if (!fp.equals(fingerprint)) {
                  fingerprint = fp;
                  try {
                    sink.accept(load().state());
                  } catch (RuntimeException e) {
                    LOG.error("cannot load manifests: {}", Printable.escape(e.getMessage()));
                  }
                }
              }
            },
            "manifest-watch");
    thread.setDaemon(true);
    thread.start();
  }

  private List<Path> files() {
    if (Files.isRegularFile(root)) {
      return List.of(root);
    }
    try (Stream<Path> s = Files.walk(root)) {
      return s.filter(Files::isRegularFile)
          .filter(p -> !p.getFileName().toString().startsWith("."))
          .filter(
              p -> {
                String n = p.getFileName().toString();
                return n.endsWith(".yaml") || n.endsWith(".yml") || n.endsWith(".json");
              })
          .sorted()
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private String fingerprint() {
    StringBuilder b = new StringBuilder();
    try {
      for (Path p : files()) {
        b.append(p)
            .append(':')
            .append(Files.getLastModifiedTime(p).toInstant())
            .append(':')
            .append(Files.size(p))
            .append('\n');
      }
    } catch (IOException | UncheckedIOException e) {
      b.append("error ").append(e.getMessage());
    }
    return b.toString();
  }

  @Override
  public void close() {
    closed = true;
    if (thread != null) {
      thread.interrupt();
    }
  }
}
