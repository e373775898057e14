package dev.svcproxy.source;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Changes found by file-system events: events are fed by hand to show what each one makes the
 * source read, and a real watcher (with its fallback scan an hour away, so only events can deliver
 * anything) shows that the kernel's events arrive.
 */
class ManifestWatchTest {
  @TempDir Path dir;

  /** Every read, in order; the watcher thread appends too. */
  private final List<Path> reads = Collections.synchronizedList(new ArrayList<>());

  private ManifestSource source;

  @AfterEach
  void tearDown() {
    if (source != null) {
      source.close();
    }
  }

  private static String svc(String name, String ip) {
    return "apiVersion: v1\nkind: Service\nmetadata: {namespace: ns, name: "
        + name
        + "}\nspec: {clusterIP: "
        + ip
        + ", ports: [{name: p80, port: 80}]}\n";
  }

  /** A source on the real clock whose fallback scan is an hour away. */
  private ManifestSource open(Path root) {
    source =
        new ManifestSource(
            root,
            Clock.systemUTC(),
            d -> Thread.sleep(d.toMillis()),
            p -> {
              reads.add(p);
              return Files.readAllBytes(p);
            },
            Duration.ofHours(1));
    return source;
  }

  /** Writes a file dated ten seconds ago, so reading it does not wait for it to settle. */
  private static Path write(Path p, String content) throws IOException {
    Files.createDirectories(p.getParent());
    Files.writeString(p, content);
    Files.setLastModifiedTime(p, FileTime.from(Instant.now().minusSeconds(10)));
    return p;
  }

  private static List<String> services(ProxyState s) {
    return s.services().keySet().stream().map(ServicePortName::toString).toList();
  }

  private static List<String> services(Optional<ManifestSource.Snapshot> s) {
    assertThat(s).as("a changed state").isPresent();
    return services(s.orElseThrow().state());
  }

  private record Event(WatchEvent.Kind<?> what, Object context) implements WatchEvent<Object> {
    @Override
    @SuppressWarnings("unchecked")
    public WatchEvent.Kind<Object> kind() {
      return (WatchEvent.Kind<Object>) what;
    }

    @Override
    public int count() {
      return 1;
    }
  }

  private static Map<Path, List<WatchEvent<?>>> event(
      Path dir, WatchEvent.Kind<?> kind, String name) {
    return Map.of(dir, List.of(new Event(kind, name == null ? null : Path.of(name))));
  }

  @Test
  void changed_modifyEventForOneFile_rereadsOnlyThatFile() throws IOException {
    write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    write(dir.resolve("b.yaml"), svc("b", "172.30.0.42"));
    open(dir).load();
    reads.clear();

    Path b = write(dir.resolve("b.yaml"), svc("b2", "172.30.0.52"));
    Optional<ManifestSource.Snapshot> s =
        source.changed(event(dir, StandardWatchEventKinds.ENTRY_MODIFY, "b.yaml"));

    assertThat(reads).containsExactly(b);
    assertThat(services(s)).containsExactly("ns/a:p80", "ns/b2:p80");
  }

  @Test
  void changed_overflow_scansEveryFile() throws IOException {
    write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    write(dir.resolve("b.yaml"), svc("b", "172.30.0.42"));
    open(dir).load();
    // Both change, but the event for a.yaml was lost in the overflowed queue.
    write(dir.resolve("a.yaml"), svc("a2", "172.30.0.51"));
    write(dir.resolve("b.yaml"), svc("b2", "172.30.0.52"));
    assertThat(services(source.changed(event(dir, StandardWatchEventKinds.ENTRY_MODIFY, "b.yaml"))))
        .containsExactly("ns/a:p80", "ns/b2:p80");

    Optional<ManifestSource.Snapshot> s =
        source.changed(event(dir, StandardWatchEventKinds.OVERFLOW, null));

    assertThat(services(s)).containsExactly("ns/a2:p80", "ns/b2:p80");
  }

  @Test
  void changed_newSubdirectory_readsTheFilesInside() throws IOException {
    write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    open(dir).load();
    write(dir.resolve("sub/deeper/c.yaml"), svc("c", "172.30.0.43"));

    Optional<ManifestSource.Snapshot> s =
        source.changed(event(dir, StandardWatchEventKinds.ENTRY_CREATE, "sub"));

    assertThat(services(s)).containsExactly("ns/a:p80", "ns/c:p80");
  }

  @Test
  void changed_fileAndSubdirectoryDeleted_withdrawTheirServices() throws IOException {
    write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    write(dir.resolve("b.yaml"), svc("b", "172.30.0.42"));
    write(dir.resolve("sub/c.yaml"), svc("c", "172.30.0.43"));
    assertThat(services(open(dir).load().state()))
        .containsExactly("ns/a:p80", "ns/b:p80", "ns/c:p80");

    Files.delete(dir.resolve("a.yaml"));
    assertThat(services(source.changed(event(dir, StandardWatchEventKinds.ENTRY_DELETE, "a.yaml"))))
        .containsExactly("ns/b:p80", "ns/c:p80");

    Files.delete(dir.resolve("sub/c.yaml"));
    Files.delete(dir.resolve("sub"));
    assertThat(services(source.changed(event(dir, StandardWatchEventKinds.ENTRY_DELETE, "sub"))))
        .containsExactly("ns/b:p80");
  }

  @Test
  void changed_fileBroken_problemReportedAndLastGoodKept() throws IOException {
    Path a = write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    open(dir).load();
    write(a, "apiVersion: v1\nkind: [");

    Optional<ManifestSource.Snapshot> s =
        source.changed(event(dir, StandardWatchEventKinds.ENTRY_MODIFY, "a.yaml"));

    assertThat(services(s)).containsExactly("ns/a:p80");
    assertThat(s.orElseThrow().problems())
        .anySatisfy(p -> assertThat(p.toString()).contains("keeping its last good contents"));
  }

  @Test
  void changed_configMapStyleLinkSwap_filesLinkedThroughItAreReadAgain() throws IOException {
    // The layout of a mounted ConfigMap: a.yaml -> ..data/a.yaml, ..data -> ..v1, and an update
    // writes ..v2, points ..data at it by a rename, and removes ..v1.
    write(dir.resolve("..v1/a.yaml"), svc("a", "172.30.0.41"));
    Files.createSymbolicLink(dir.resolve("..data"), Path.of("..v1"));
    Files.createSymbolicLink(dir.resolve("a.yaml"), Path.of("..data/a.yaml"));
    assertThat(services(open(dir).load().state())).containsExactly("ns/a:p80");

    write(dir.resolve("..v2/a.yaml"), svc("a2", "172.30.0.42"));
    Files.createSymbolicLink(dir.resolve("..data_tmp"), Path.of("..v2"));
    Files.move(dir.resolve("..data_tmp"), dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);
    Files.delete(dir.resolve("..v1/a.yaml"));
    Files.delete(dir.resolve("..v1"));
    Map<Path, List<WatchEvent<?>>> events =
        Map.of(
            dir,
            List.of(
                new Event(StandardWatchEventKinds.ENTRY_CREATE, Path.of("..v2")),
                new Event(StandardWatchEventKinds.ENTRY_CREATE, Path.of("..data_tmp")),
                new Event(StandardWatchEventKinds.ENTRY_DELETE, Path.of("..data_tmp")),
                new Event(StandardWatchEventKinds.ENTRY_CREATE, Path.of("..data")),
                new Event(StandardWatchEventKinds.ENTRY_DELETE, Path.of("..v1"))));

    assertThat(services(source.changed(events))).containsExactly("ns/a2:p80");
  }

  @Test
  void changed_hiddenOrOtherFile_readsNothingAndReportsNoChange() throws IOException {
    write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    open(dir).load();
    reads.clear();
    write(dir.resolve(".a.yaml.swp"), "x");
    write(dir.resolve("notes.txt"), "x");

    assertThat(source.changed(event(dir, StandardWatchEventKinds.ENTRY_CREATE, ".a.yaml.swp")))
        .isEmpty();
    assertThat(source.changed(event(dir, StandardWatchEventKinds.ENTRY_CREATE, "notes.txt")))
        .isEmpty();
    assertThat(reads).isEmpty();
  }

  @Test
  void changed_singleFileSource_ignoresItsNeighbours() throws IOException {
    Path a = write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    write(dir.resolve("b.yaml"), svc("b", "172.30.0.42"));
    open(a).load();
    reads.clear();

    write(dir.resolve("b.yaml"), svc("b2", "172.30.0.52"));
    assertThat(source.changed(event(dir, StandardWatchEventKinds.ENTRY_MODIFY, "b.yaml")))
        .isEmpty();
    assertThat(reads).isEmpty();

    write(a, svc("a2", "172.30.0.51"));
    assertThat(services(source.changed(event(dir, StandardWatchEventKinds.ENTRY_MODIFY, "a.yaml"))))
        .containsExactly("ns/a2:p80");
  }

  private static String slice(String service, String slice, String... ips) {
    return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {namespace: ns, name: "
        + slice
        + ", labels: {kubernetes.io/service-name: "
        + service
        + "}}\naddressType: IPv4\nendpoints: ["
        + java.util.Arrays.stream(ips)
            .map(ip -> "{addresses: [" + ip + "]}")
            .collect(java.util.stream.Collectors.joining(", "))
        + "]\nports: [{name: p80, port: 8080, protocol: TCP}]\n";
  }

  @Test
  void changed_randomEditsAcrossFiles_stateEqualsAFullBuildOfTheSameFiles() throws IOException {
    // Services, their slices in other files, duplicates across files, files coming and going: the
    // state after each change must equal what a fresh source builds from all files at once.
    java.util.Random rnd = new java.util.Random(7);
    String[] names = {"s0", "s1", "s2", "s3"};
    String[] files = {"a.yaml", "b.yaml", "sub/c.yaml", "sub/d.yaml"};
    open(dir).load();
    for (int step = 0; step < 200; step++) {
      String file = files[rnd.nextInt(files.length)];
      Path p = dir.resolve(file);
      if (rnd.nextInt(5) == 0) {
        Files.deleteIfExists(p);
      } else {
        StringBuilder text = new StringBuilder();
        // Never empty: an emptied file keeps its last good contents, by design.
        int docs = 1 + rnd.nextInt(3);
        for (int d = 0; d < docs; d++) {
          String n = names[rnd.nextInt(names.length)];
          text.append("---\n");
          if (rnd.nextBoolean()) {
            text.append(svc(n, "172.30.0." + (10 + rnd.nextInt(5))));
          } else {
            text.append(
                slice(n, n + "-" + rnd.nextInt(2), "10.0.0." + (1 + rnd.nextInt(3)), "10.0.1.1"));
          }
        }
        write(p, text.toString());
      }
      Path parent = p.getParent();
      source.changed(
          event(parent, StandardWatchEventKinds.ENTRY_MODIFY, p.getFileName().toString()));
      ManifestSource fresh =
          new ManifestSource(dir, Clock.systemUTC(), d -> {}, Files::readAllBytes, Duration.ZERO);
      assertThat(source.load().state()).as("step %d", step).isEqualTo(fresh.load().state());
    }
  }

  // The watcher on the real file system. Waits are for arrival only, with a generous bound.

  private final BlockingQueue<ProxyState> states = new LinkedBlockingQueue<>();

  /** The first state handed over that satisfies {@code p}; fails after a minute. */
  private ProxyState await(Predicate<List<String>> p) throws InterruptedException {
    while (true) {
      ProxyState s = states.poll(60, TimeUnit.SECONDS);
      assertThat(s).as("a state from the watcher").isNotNull();
      if (p.test(services(s))) {
        return s;
      }
    }
  }

  @Test
  void watch_fileWritten_changeArrivesThroughTheWatcherAndOnlyItIsRead() throws Exception {
    write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    Path b = write(dir.resolve("b.yaml"), svc("b", "172.30.0.42"));
    open(dir).load();
    source.watch(states::add);
    reads.clear();

    Files.writeString(b, svc("b2", "172.30.0.52"));

    await(s -> s.equals(List.of("ns/a:p80", "ns/b2:p80")));
    assertThat(reads).isNotEmpty().allMatch(b::equals);
  }

  @Test
  void watch_fileRenamedIntoPlace_changeArrives() throws Exception {
    Path a = write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    open(dir).load();
    source.watch(states::add);

    Path tmp = dir.resolve(".a.yaml.tmp");
    Files.writeString(tmp, svc("a2", "172.30.0.51"));
    Files.move(tmp, a, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

    await(s -> s.equals(List.of("ns/a2:p80")));
  }

  @Test
  void watch_newSubdirectory_itsFilesAndTheirLaterChangesArrive() throws Exception {
    write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    open(dir).load();
    source.watch(states::add);

    Path c = write(dir.resolve("sub/deeper/c.yaml"), svc("c", "172.30.0.43"));
    await(s -> s.equals(List.of("ns/a:p80", "ns/c:p80")));
    // Only a watch on the new directory sees this one.
    Files.writeString(c, svc("c2", "172.30.0.53"));
    await(s -> s.equals(List.of("ns/a:p80", "ns/c2:p80")));
  }

  @Test
  void watch_fileDeleted_itsServicesAreWithdrawn() throws Exception {
    Path a = write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    write(dir.resolve("sub/b.yaml"), svc("b", "172.30.0.42"));
    open(dir).load();
    source.watch(states::add);

    Files.delete(a);
    await(s -> s.equals(List.of("ns/b:p80")));
  }

  @Test
  void watch_singleFile_changeArrives() throws Exception {
    Path a = write(dir.resolve("a.yaml"), svc("a", "172.30.0.41"));
    open(a).load();
    source.watch(states::add);

    Files.writeString(a, svc("a2", "172.30.0.51"));
    await(s -> s.equals(List.of("ns/a2:p80")));
  }
}
