package dev.svcproxy.testutil;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.doctor.Doctor;
import dev.svcproxy.doctor.DoctorFormatter;
import dev.svcproxy.doctor.DoctorInput;
import dev.svcproxy.doctor.DoctorInputs;
import dev.svcproxy.doctor.DoctorReport;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The acceptance step every doctor lab test repeats: run the doctor on a live node ({@code
 * DoctorInputs.live}) and on a bundle captured from it now ({@code BundleCapture.captureInto} +
 * {@code DoctorInputs.bundle}), assert the id is named once in each, with evidence, and that every
 * {@code file:line} the bundle finding cites, re-read from disk, contains the text it quotes (or is
 * that text behind a "where: " label). No check may have failed on either input (the doctor's
 * "check ... failed" warning).
 *
 * <pre>
 * LiveAndBundle.Named n = LiveAndBundle.on(demo.node("node1"), demo.objects())
 *     .named("no-endpoints", tmp.resolve("bundle"));
 * assertThat(n.live().severity())...; assertThat(n.citedLine(n.bundle().evidence().get(0)))...
 * lb.clearedBy(n, () -> lab.in(ns, "sysctl", "-w", "net.ipv4.ip_forward=1"), "net.ipv4.ip_forward=1");
 * </pre>
 *
 * <p>{@link #clearedBy} is the acceptance's second half: the fix the finding gives names what the
 * test does, and once done the id is gone from the live node and from a bundle captured again.
 *
 * @param node a runner in the node's network namespace
 * @param objects the cluster's Services and slices (the doctor's --manifests), or empty
 * @param with applied to both inputs before the doctor runs (e.g. {@code in -> in.withPacket(p)})
 * @param which picks the finding among those with the id (e.g. by summary); all by default
 */
public record LiveAndBundle(
    CommandRunner node,
    Optional<Path> objects,
    UnaryOperator<DoctorInput> with,
    Predicate<Finding> which) {
  // A file of the bundle and a line number; not "$ command ... IP:PORT".
  private static final Pattern CITED = Pattern.compile("([^:\\s]+):(\\d+)");

  /** The doctor on {@code node}, with {@code objects} as the cluster's Services and slices. */
  public static LiveAndBundle on(CommandRunner node, Optional<Path> objects) {
    return new LiveAndBundle(node, objects, in -> in, f -> true);
  }

  /** The same, with {@code with} applied to both inputs (a packet, other cluster objects). */
  public LiveAndBundle with(UnaryOperator<DoctorInput> with) {
    return new LiveAndBundle(node, objects, with, which);
  }

  /** The same, looking only at the findings {@code which} accepts. */
  public LiveAndBundle which(Predicate<Finding> which) {
    return new LiveAndBundle(node, objects, with, which);
  }

  /** The findings with {@code id} (that {@code which} accepts) on the live node now. */
  public List<Finding> live(String id) {
    return matching(with.apply(DoctorInputs.live(node, objects)), id);
  }

  /**
   * Runs the doctor live and on a bundle captured into {@code dir}; asserts {@code id} is named
   * once in each, with evidence, and that each {@code file:line} of the bundle finding's evidence
   * holds its text.
   */
  public Named named(String id, Path dir) {
    List<Finding> live = live(id);
    assertThat(live).as("%s live", id).singleElement();
    assertThat(live.get(0).evidence()).as("%s live evidence", id).isNotEmpty();
    BundleCapture.captureInto(node, dir);
    DoctorInput bundle = with.apply(DoctorInputs.bundle(dir, objects));
    List<Finding> fromBundle = matching(bundle, id);
    assertThat(fromBundle).as("%s on the bundle %s", id, dir).singleElement();
    Named n = new Named(live.get(0), fromBundle.get(0), dir, bundle);
    assertThat(n.bundle().evidence()).as("%s bundle evidence", id).isNotEmpty();
    for (Evidence e : n.bundle().evidence()) {
      assertCited(n, e, id);
    }
    return n;
  }

  /**
   * The bundle files a capture writes on one line (`ip -j`, `bridge -j`, `nft -j`): a fact read
   * from them is cited by the file alone, there being no line of its own to re-read.
   */
  public static final Set<String> ONE_LINE_FILES =
      Set.of(
          "ip-addr.json", "ip-route.json", "ip-rule.json", "bridge-link.json", "nft-ruleset.json");

  /**
   * Asserts that a bundle evidence cites where a reader finds it: a {@code file:line} of the bundle
   * that holds its text ({@link #assertHolds}), a command ({@code "$ ..."}), one of the {@link
   * #ONE_LINE_FILES} the bundle has, or a file of the bundle as a whole for what it lacks (text "no
   * ...": an absence has no line).
   */
  public static void assertCited(Named n, Evidence e, String id) {
    if (e.where().startsWith("$ ")) {
      return;
    }
    if (CITED.matcher(e.where()).matches()) {
      assertHolds(n, e, id);
      return;
    }
    assertThat(ONE_LINE_FILES.contains(e.where()) || e.text().startsWith("no "))
        .as("%s: evidence \"%s\" cites neither file:line nor a command", id, e)
        .isTrue();
    assertThat(n.dir().resolve(e.where())).as("%s cites %s", id, e.where()).exists();
  }

  /**
   * Asserts that the line {@code e} cites holds its text: the line (with or without the rule
   * counters the capture saves: a check whose point is the counters quotes them) contains the text,
   * or the text is the whole line behind a label saying where it is ("mangle: :KUBE-PROXY-CANARY -
   * [0:0]").
   */
  public static void assertHolds(Named n, Evidence e, String id) {
    String line = n.citedLine(e);
    String raw = n.rawCitedLine(e);
    assertThat(line).as("%s cites %s", id, e.where()).isNotBlank();
    assertThat(
            line.contains(e.text())
                || raw.contains(e.text())
                || e.text().endsWith(": " + line)
                || e.text().endsWith(": " + raw))
        .as("%s cites %s: \"%s\" for \"%s\"", id, e.where(), raw, e.text())
        .isTrue();
  }

  /** A test's fix: the commands (or object changes) it makes on the node. */
  @FunctionalInterface
  public interface Fix {
    void apply() throws Exception;
  }

  /**
   * The fix verified to clear {@code n}: asserts that the fix text of the live finding and of the
   * bundle finding each contain every one of {@code says} (the sysctl, flag or command the test is
   * about to apply), applies {@code fix}, then asserts the id is gone live and from a bundle
   * captured again into {@code n.dir()} + "-fixed".
   *
   * @return the directory of the bundle captured after the fix
   */
  public Path clearedBy(Named n, Fix fix, String... says) {
    return clearedBy(n, n.dir().resolveSibling(n.dir().getFileName() + "-fixed"), fix, says);
  }

  /** The same, capturing the bundle after the fix into {@code fixedDir}. */
  public Path clearedBy(Named n, Path fixedDir, Fix fix, String... says) {
    String id = n.live().id();
    assertThat(says).as("%s: what the fix does, to find in its text", id).isNotEmpty();
    for (Finding f : n.both()) {
      for (String s : says) {
        // The finding's advice and the test's action are one and the same fix.
        assertThat(f.fix()).as("%s fix text (%s)", id, f.evidence()).contains(s);
      }
    }
    try {
      fix.apply();
    } catch (Exception e) {
      throw new AssertionError(id + ": applying the fix failed", e);
    }
    assertThat(live(id)).as("%s live after the fix", id).isEmpty();
    BundleCapture.captureInto(node, fixedDir);
    assertThat(matching(with.apply(DoctorInputs.bundle(fixedDir, objects)), id))
        .as("%s on the bundle %s captured after the fix", id, fixedDir)
        .isEmpty();
    return fixedDir;
  }

  private List<Finding> matching(DoctorInput in, String id) {
    DoctorReport r = Doctor.standard().examine(in);
    // A check that threw shows up as a warning: fail on it rather than on a missing finding.
    assertThat(r.warnings()).as(DoctorFormatter.text(r)).noneMatch(w -> w.startsWith("check "));
    List<Finding> found =
        r.findings().stream().filter(f -> f.id().equals(id)).filter(which).toList();
    if (found.size() != 1) {
      // What the doctor did say, for the failure at hand.
      System.out.println(DoctorFormatter.text(r));
    }
    return found;
  }

  /**
   * The id named live and on the bundle.
   *
   * @param live the live finding
   * @param bundle the finding on the captured bundle
   * @param dir where the bundle was captured
   * @param bundleInput the bundle's doctor input (as given to the doctor), to ask it again
   */
  public record Named(Finding live, Finding bundle, Path dir, DoctorInput bundleInput) {
    /** Both findings, live first. */
    public List<Finding> both() {
      return List.of(live, bundle);
    }

    /**
     * The line a bundle evidence's {@code file:line} cites, read from disk (stripped), a rule
     * without the {@code [packets:bytes]} counters the capture saves (as a person writes it).
     */
    public String citedLine(Evidence e) {
      return dev.svcproxy.netfilter.Rule.withoutCounters(rawCitedLine(e));
    }

    /** The line a bundle evidence's {@code file:line} cites, as the file has it (stripped). */
    public String rawCitedLine(Evidence e) {
      Matcher m = CITED.matcher(e.where());
      assertThat(m.matches()).as("%s is file:line", e.where()).isTrue();
      try {
        List<String> lines = Files.readAllLines(dir.resolve(m.group(1)));
        int at = Integer.parseInt(m.group(2));
        assertThat(at)
            .as("%s within the file's %d lines", e.where(), lines.size())
            .isBetween(1, lines.size());
        return lines.get(at - 1).strip();
      } catch (IOException ex) {
        throw new UncheckedIOException(ex);
      }
    }
  }
}
