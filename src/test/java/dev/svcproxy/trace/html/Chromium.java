package dev.svcproxy.trace.html;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.testutil.KernelTests;
import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Headless Chromium (Debian's chromium package, installed by scripts/install-test-deps) for page
 * tests: each run gets its own temporary profile and is killed, with its child processes, when it
 * overruns. Console messages (script errors, console calls, blocked loads) come from {@code
 * --enable-logging=stderr --v=0}, which prints each as a {@code :CONSOLE} line; {@link
 * HtmlPageChromiumTest} checks that a page with an error does produce one.
 */
final class Chromium {
  private static final long TIMEOUT_SECONDS = 90;

  private Chromium() {}

  /**
   * The browser binary; fails when it is missing (skips only under {@code
   * -Dsvcproxy.kernelTests=skip}, as the kernel tests do).
   */
  static String binary() {
    for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
      for (String name : List.of("chromium", "chromium-browser")) {
        Path p = Path.of(dir, name);
        if (Files.isExecutable(p)) {
          return p.toString();
        }
      }
    }
    String problem =
        "chromium is not installed: run scripts/install-test-deps (Debian package chromium)";
    // As the kernel tests: missing tools fail, unless the run opted out of them explicitly.
    if (System.getProperty(KernelTests.PROPERTY, "").equals("skip")) {
      System.err.println("*** browser tests SKIPPED: " + problem);
      Assumptions.abort(problem);
    }
    return Assertions.fail(problem);
  }

  /** What one run printed, and the console messages among its log lines. */
  record Result(int exit, String stdout, String stderr) {
    List<String> console() {
      return stderr.lines().filter(l -> l.contains(":CONSOLE")).toList();
    }
  }

  /** Loads {@code page} in a {@code width}×{@code height} window with {@code extra} flags. */
  static Result run(Path page, int width, int height, String... extra) {
    Path profile;
    try {
      profile = Files.createTempDirectory("svcproxy-chromium-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<String> argv = new ArrayList<>();
    argv.add(binary());
    argv.addAll(
        List.of(
            "--headless",
            "--no-sandbox", // tests run as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--user-data-dir=" + profile.resolve("profile"),
            "--window-size=" + width + "," + height,
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000"));
    argv.addAll(List.of(extra));
    argv.add(page.toUri().toString());
    Path out = profile.resolve("stdout");
    Path err = profile.resolve("stderr");
    Process p = null;
    try {
      p =
          new ProcessBuilder(argv)
              .redirectOutput(out.toFile())
              .redirectError(err.toFile())
              .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
              .start();
      if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        kill(p);
        return Assertions.fail("chromium did not finish within " + TIMEOUT_SECONDS + "s: " + argv);
      }
      return new Result(
          p.exitValue(),
          Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    } finally {
      if (p != null && p.isAlive()) {
        kill(p);
      }
      delete(profile);
    }
  }

  private static void kill(Process p) {
    p.descendants().forEach(ProcessHandle::destroyForcibly);
    p.destroyForcibly();
    try {
      p.waitFor(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void delete(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    } catch (IOException e) {
      // A leftover temporary directory is harmless.
    }
  }

  /** The page after its scripts ran, as Chromium serialises the DOM. */
  static Result dumpDom(Path page, int width, int height) {
    Result r = run(page, width, height, "--dump-dom");
    assertThat(r.exit()).as(r.stderr()).isZero();
    return r;
  }

  /** A screenshot of the window (CSS pixels: the scale factor is 1). */
  static BufferedImage screenshot(Path page, int width, int height, Path png) {
    Result r = run(page, width, height, "--screenshot=" + png);
    assertThat(r.exit()).as(r.stderr()).isZero();
    assertThat(r.console()).as("console messages while taking the screenshot").isEmpty();
    try {
      BufferedImage img = ImageIO.read(png.toFile());
      assertThat(img).as("screenshot " + png).isNotNull();
      return img;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The probe a test adds to a copy of a page (allowed by adding its hash to the page's content
   * security policy): it records script errors, and after load writes into the DOM, as JSON, the
   * box of the failing step, of the first other box, and the ids of the failing boxes.
   */
  static final String PROBE =
      """
      window.__errors = [];
      window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
      window.addEventListener('load', function () { setTimeout(function () {
        function rect(el) { if (!el) return null; var r = el.getBoundingClientRect();
          return {x: r.left, y: r.top, w: r.width, h: r.height}; }
        var failing = document.querySelectorAll('.box.state-failing');
        var probe = document.createElement('pre');
        probe.id = 'probe';
        probe.textContent = JSON.stringify({
          errors: window.__errors,
          failingIds: Array.prototype.map.call(failing, function (b) { return b.id; }),
          failing: rect(failing[0]),
          other: rect(document.querySelector('.box.shape-packet:not(.state-failing)')),
          boxes: document.querySelectorAll('.box').length,
          title: document.title
        });
        document.body.appendChild(probe);
      }, 0); });
      """;

  /** A copy of {@code page} with {@link #PROBE} in its head, allowed by its CSP. */
  static Path withProbe(String page, Path file) throws Exception {
    String hash =
        "sha256-"
            + Base64.getEncoder()
                .encodeToString(
                    MessageDigest.getInstance("SHA-256")
                        .digest(PROBE.getBytes(StandardCharsets.UTF_8)));
    assertThat(page).contains("script-src '");
    String probed =
        page.replace("script-src '", "script-src '" + hash + "' '")
            .replaceFirst(
                "</title>",
                "</title><script>" + java.util.regex.Matcher.quoteReplacement(PROBE) + "</script>");
    Files.writeString(file, probed);
    return file;
  }

  /** The probe's JSON from a dumped DOM. */
  static JsonNode probe(String dom) throws Exception {
    int start = dom.indexOf("<pre id=\"probe\">");
    assertThat(start).as("the probe ran: " + dom).isGreaterThanOrEqualTo(0);
    int end = dom.indexOf("</pre>", start);
    String json =
        dom.substring(start + "<pre id=\"probe\">".length(), end)
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
    return new ObjectMapper().readTree(json);
  }

  /**
   * How many pixels inside the rectangle (inset by 4 px, past the border and its anti-aliasing)
   * have the colour {@code rgb}, give or take 3 per channel.
   */
  static int pixels(BufferedImage img, JsonNode rect, int rgb) {
    int x0 = (int) Math.ceil(rect.get("x").asDouble()) + 4;
    int y0 = (int) Math.ceil(rect.get("y").asDouble()) + 4;
    int x1 = (int) Math.floor(rect.get("x").asDouble() + rect.get("w").asDouble()) - 4;
    int y1 = (int) Math.floor(rect.get("y").asDouble() + rect.get("h").asDouble()) - 4;
    int n = 0;
    for (int y = Math.max(0, y0); y < Math.min(img.getHeight(), y1); y++) {
      for (int x = Math.max(0, x0); x < Math.min(img.getWidth(), x1); x++) {
        int p = img.getRGB(x, y);
        if (Math.abs(((p >> 16) & 0xff) - ((rgb >> 16) & 0xff)) <= 3
            && Math.abs(((p >> 8) & 0xff) - ((rgb >> 8) & 0xff)) <= 3
            && Math.abs((p & 0xff) - (rgb & 0xff)) <= 3) {
          n++;
        }
      }
    }
    return n;
  }

  /** The inset area {@link #pixels} looks at. */
  static int area(JsonNode rect) {
    return Math.max(0, (int) rect.get("w").asDouble() - 8)
        * Math.max(0, (int) rect.get("h").asDouble() - 8);
  }
}
