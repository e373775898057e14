package dev.svcproxy.source;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ServicePortName;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A file caught while being written never withdraws its Services; a deleted one does. Time is a
 * fake clock that only the fake sleeper advances, so nothing here depends on real timing.
 */
class ManifestSourceTest {
  @TempDir Path dir;

  private Instant now = Instant.parse("2026-01-01T00:00:00Z");
  private final List<Duration> sleeps = new ArrayList<>();
  private final Set<Path> unreadable = new HashSet<>();
  private final List<Path> reads = new ArrayList<>();
  private Runnable onSleep = () -> {};

  private final Clock clock =
      new Clock() {
        @Override
        public Instant instant() {
          return now;
        }

        @Override
        public java.time.ZoneId getZone() {
          return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
          return this;
        }
      };

  private ManifestSource source;

  @BeforeEach
  void setUp() {
    source =
        new ManifestSource(
            dir,
            clock,
            d -> {
              sleeps.add(d);
              now = now.plus(d);
              onSleep.run();
            },
            p -> {
              reads.add(p);
              if (unreadable.contains(p)) {
                throw new AccessDeniedException(p.toString());
              }
              return Files.readAllBytes(p);
            });
  }

  private static String svc(String name, String ip) {
    return "apiVersion: v1\nkind: Service\nmetadata: {namespace: ns, name: "
        + name
        + "}\nspec: {clusterIP: "
        + ip
        + ", ports: [{name: p80, port: 80}]}\n";
  }

  private static final String TWO = svc("a", "172.30.0.41") + "---\n" + svc("b", "172.30.0.42");

  /** Writes a file as if it was last modified {@code age} before the fake now. */
  private Path write(String name, byte[] content, Duration age) throws IOException {
    Path p = dir.resolve(name);
    Files.write(p, content);
    Files.setLastModifiedTime(p, FileTime.from(now.minus(age)));
    return p;
  }

  private Path write(String name, String content) throws IOException {
    return write(name, content.getBytes(StandardCharsets.UTF_8), Duration.ofSeconds(10));
  }

  private List<String> services(ManifestSource.Snapshot s) {
    return s.state().services().keySet().stream().map(ServicePortName::toString).toList();
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {"empty", "truncated", "binary", "latin1", "unreadable", "whitespace", "tooLarge"})
  void load_fileCaughtMidWrite_keepsItsLastGoodContents(String how) throws IOException {
    Path f = write("a.yaml", TWO);
    assertThat(services(source.load())).containsExactly("ns/a:p80", "ns/b:p80");

    byte[] broken =
        switch (how) {
          case "empty" -> new byte[0];
          case "whitespace" -> "\n\n".getBytes(StandardCharsets.UTF_8);
          case "truncated" -> TWO.substring(0, TWO.length() - 12).getBytes(StandardCharsets.UTF_8);
          case "binary" -> new byte[] {0x7f, 'E', 'L', 'F', 0, 0, (byte) 0xff, (byte) 0xfe, 1};
          case "latin1" ->
              (svc("a", "172.30.0.41") + "# caf\u00e9\n").getBytes(StandardCharsets.ISO_8859_1);
          case "tooLarge" -> new byte[(int) ManifestSource.MAX_FILE_BYTES + 1];
          default -> TWO.getBytes(StandardCharsets.UTF_8);
        };
    write("a.yaml", broken, Duration.ofSeconds(5));
    if (how.equals("unreadable")) {
      unreadable.add(f);
    }

    ManifestSource.Snapshot s = source.load();
    assertThat(services(s)).containsExactly("ns/a:p80", "ns/b:p80");
    assertThat(s.problems())
        .anySatisfy(
            p ->
                assertThat(p.toString())
                    .startsWith(f + ": document ")
                    .contains("keeping its last good contents"));

    write("a.yaml", svc("c", "172.30.0.43"));
    unreadable.clear();
    ManifestSource.Snapshot fixed = source.load();
    assertThat(services(fixed)).containsExactly("ns/c:p80");
    assertThat(fixed.problems()).isEmpty();
  }

  @Test
  void load_fileDeleted_withdrawsItsServices() throws IOException {
    Path a = write("a.yaml", svc("a", "172.30.0.41"));
    write("b.yaml", svc("b", "172.30.0.42"));
    assertThat(services(source.load())).containsExactly("ns/a:p80", "ns/b:p80");

    Files.delete(a);
    assertThat(services(source.load())).containsExactly("ns/b:p80");
  }

  @Test
  void load_fileStillBeingWritten_readsItOnlyOnceItHasSettled() throws IOException {
    String full = svc("a", "172.30.0.41") + "---\n" + svc("b", "172.30.0.42");
    Path f = write("a.yaml", full.substring(0, 60).getBytes(StandardCharsets.UTF_8), Duration.ZERO);
    List<String> chunks = List.of(full.substring(60, 120), full.substring(120));
    int[] written = {0};
    Instant[] lastWrite = {now};
    onSleep =
        () -> {
          // The writer appends a chunk every other step, then stops.
          if (sleeps.size() % 2 == 1 && written[0] < chunks.size()) {
            try {
              Files.writeString(
                  f,
                  chunks.get(written[0]++),
                  StandardCharsets.UTF_8,
                  java.nio.file.StandardOpenOption.APPEND);
              Files.setLastModifiedTime(f, FileTime.from(now));
              lastWrite[0] = now;
            } catch (IOException e) {
              throw new java.io.UncheckedIOException(e);
            }
          }
        };

    ManifestSource.Snapshot s = source.load();

    assertThat(written[0]).isEqualTo(2);
    assertThat(services(s)).containsExactly("ns/a:p80", "ns/b:p80");
    assertThat(s.problems()).isEmpty();
    // It read no earlier than SETTLE after the last write.
    assertThat(Duration.between(lastWrite[0], now)).isGreaterThanOrEqualTo(ManifestSource.SETTLE);
  }

  @Test
  void load_filesOlderThanTheSettleTime_readWithoutWaiting() throws IOException {
    write("a.yaml", svc("a", "172.30.0.41"));
    assertThat(services(source.load())).containsExactly("ns/a:p80");
    assertThat(sleeps).isEmpty();
  }

  @Test
  void load_sameServiceInTwoFiles_firstFileWinsAndBothPlacesAreNamed() throws IOException {
    Path a = write("a.yaml", svc("x", "172.30.0.41"));
    Path b = write("b.yaml", svc("y", "172.30.0.50") + "---\n" + svc("x", "172.30.0.42"));

    ManifestSource.Snapshot s = source.load();

    assertThat(s.state().services().get(new ServicePortName("ns", "x", "p80", Protocol.TCP)))
        .satisfies(i -> assertThat(i.clusterIP()).isEqualTo("172.30.0.41"));
    assertThat(s.problems())
        .extracting(ManifestProblem::toString)
        .containsExactly(
            b
                + ": document 2: Service ns/x: duplicate of the one at "
                + a
                + ": document 1, which is used; this one is ignored");
  }

  @Test
  void load_oneOfThreeFilesChanged_rereadsOnlyThatFile() throws IOException {
    write("a.yaml", svc("a", "172.30.0.41"));
    Path b = write("b.yaml", svc("b", "172.30.0.42"));
    write("c.yaml", svc("c", "172.30.0.43"));
    assertThat(services(source.load())).containsExactly("ns/a:p80", "ns/b:p80", "ns/c:p80");
    reads.clear();

    write("b.yaml", svc("b2", "172.30.0.52"));
    ManifestSource.Snapshot s = source.load();

    assertThat(reads).containsExactly(b);
    // The unchanged files' contents stay in force beside the changed one.
    assertThat(services(s)).containsExactly("ns/a:p80", "ns/b2:p80", "ns/c:p80");
  }

  @Test
  void load_nothingChanged_readsNothing() throws IOException {
    write("a.yaml", svc("a", "172.30.0.41"));
    write("b.yaml", svc("b", "172.30.0.42"));
    source.load();
    reads.clear();

    assertThat(services(source.load())).containsExactly("ns/a:p80", "ns/b:p80");
    assertThat(reads).isEmpty();
  }

  @Test
  void load_fileReplacedByRenameWithSameSizeAndTime_isReadAgain() throws IOException {
    Path a = write("a.yaml", svc("a", "172.30.0.41"));
    source.load();
    // Same length and modification time, another inode: what an atomic rename-over leaves.
    Path tmp = write(".a.yaml.tmp", svc("z", "172.30.0.41"));
    Files.move(tmp, a, java.nio.file.StandardCopyOption.REPLACE_EXISTING);

    assertThat(services(source.load())).containsExactly("ns/z:p80");
  }

  @Test
  void load_duplicateInAnUnchangedEarlierFile_stillWinsAfterTheLaterFileChanges()
      throws IOException {
    Path a = write("a.yaml", svc("x", "172.30.0.41"));
    write("b.yaml", svc("y", "172.30.0.50"));
    source.load();

    Path b = write("b.yaml", svc("x", "172.30.0.42") + "---\n" + svc("y", "172.30.0.50"));
    ManifestSource.Snapshot s = source.load();

    assertThat(s.state().services().get(new ServicePortName("ns", "x", "p80", Protocol.TCP)))
        .satisfies(i -> assertThat(i.clusterIP()).isEqualTo("172.30.0.41"));
    assertThat(s.problems())
        .extracting(ManifestProblem::toString)
        .containsExactly(
            b
                + ": document 1: Service ns/x: duplicate of the one at "
                + a
                + ": document 1, which is used; this one is ignored");
  }

  @Test
  void load_unreadableFileMadeReadableWithoutOtherChange_isReadAgain() throws IOException {
    Path a = write("a.yaml", svc("a", "172.30.0.41"));
    unreadable.add(a);
    assertThat(services(source.load())).isEmpty();

    // chmod changes neither size nor modification time.
    unreadable.clear();
    assertThat(services(source.load())).containsExactly("ns/a:p80");
  }

  @Test
  void load_serviceCidrManifest_entersTheStateAndFollowsEdits() throws IOException {
    String cidr =
        "apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: kubernetes}\n"
            + "spec: {cidrs: [172.30.0.0/16]}\n";
    write("a.yaml", svc("a", "172.30.0.41"));
    Path c = write("cidr.yaml", cidr);
    ManifestSource.Snapshot s = source.load();
    assertThat(s.state().serviceCidrs())
        .containsExactly(dev.svcproxy.model.Cidr.parse("172.30.0.0/16"));

    write("cidr.yaml", cidr.replace("172.30.0.0/16", "10.96.0.0/12"));
    assertThat(source.load().state().serviceCidrs())
        .containsExactly(dev.svcproxy.model.Cidr.parse("10.96.0.0/12"));

    Files.delete(c);
    ManifestSource.Snapshot gone = source.load();
    assertThat(gone.state().serviceCidrs()).isEmpty();
    assertThat(services(gone)).containsExactly("ns/a:p80");
  }
}
