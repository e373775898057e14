package dev.svcproxy.source;

import dev.svcproxy.model.EndpointSlice;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.Service;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Services and EndpointSlices from a manifest file or directory (*.yaml, *.yml, *.json, recursed,
 * hidden files ignored), re-read whenever a file changes. A file that is not valid YAML keeps its
 * last good contents, so a half-written edit never withdraws a service.
 */
public final class ManifestSource implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ManifestSource.class);
  private static final long POLL_MS = 200;

  private final Path root;
  private final ManifestParser parser = new ManifestParser();
  private final Map<Path, ManifestSet> lastGood = new HashMap<>();
  private Thread thread;
  private volatile boolean closed;
  private String fingerprint = "";
  private List<ManifestProblem> lastProblems = List.of();

  public ManifestSource(Path root) {
    if (!Files.exists(root)) {
      throw new IllegalArgumentException("--manifests " + root + ": no such file or directory");
    }
    this.root = root;
  }

  /** Reads every manifest now; problems are logged (once per distinct set) and returned. */
  public synchronized Snapshot load() {
    List<Service> services = new ArrayList<>();
    List<EndpointSlice> slices = new ArrayList<>();
    List<ManifestProblem> problems = new ArrayList<>();
    List<Path> files = files();
    lastGood.keySet().retainAll(files);
    for (Path f : files) {
      String text;
      try {
        text = Files.readString(f, StandardCharsets.UTF_8);
      } catch (IOException e) {
        problems.add(new ManifestProblem(f.toString(), 0, "cannot read: " + e.getMessage()));
        continue;
      }
      ManifestSet set = parser.parse(f.toString(), text);
      problems.addAll(set.problems());
      boolean syntaxBroken =
          set.problems().stream().anyMatch(p -> p.reason().startsWith("not valid YAML"));
      if (syntaxBroken && lastGood.containsKey(f)) {
        set = lastGood.get(f);
      } else {
        lastGood.put(f, set);
      }
      services.addAll(set.services());
      slices.addAll(set.slices());
    }
    if (!problems.equals(lastProblems)) {
      problems.forEach(p -> LOG.warn("skipped manifest document: {}", p));
      lastProblems = List.copyOf(problems);
    }
    return new Snapshot(ProxyStateBuilder.build(services, slices), problems);
  }

  /** A state and the documents skipped while building it. */
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
                    LOG.error("cannot load manifests: {}", e.getMessage());
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
