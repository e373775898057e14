package dev.svcproxy.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs svcproxy's main class in a fresh JVM with stdout and stderr kept apart. */
final class SvcproxyProcess {
  private SvcproxyProcess() {}

  /** What a finished run printed and returned. */
  record Result(int code, String stdout, String stderr) {}

  /** The java argv that runs {@code mainClass} from this test's classes (jvmOptions first). */
  static List<String> javaCommand(List<String> jvmOptions, String mainClass) {
    List<String> argv = new ArrayList<>();
    argv.add(ProcessHandle.current().info().command().orElse("java"));
    argv.addAll(jvmOptions);
    argv.add("-cp");
    argv.add(System.getProperty("java.class.path"));
    argv.add(mainClass);
    return argv;
  }

  /** Runs svcproxy with {@code args}, behind {@code prefix} (e.g. ip netns exec NS), to the end. */
  static Result run(List<String> prefix, List<String> jvmOptions, List<String> args) {
    List<String> argv = new ArrayList<>(prefix);
    argv.addAll(javaCommand(jvmOptions, Main.class.getName()));
    argv.addAll(args);
    try {
      Path out = Files.createTempFile("svcproxy-out", ".txt");
      Path err = Files.createTempFile("svcproxy-err", ".txt");
      try {
        Process p =
            new ProcessBuilder(argv)
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
          p.destroyForcibly().waitFor();
          throw new IllegalStateException("svcproxy did not finish: " + argv);
        }
        return new Result(
            p.exitValue(),
            Files.readString(out, StandardCharsets.UTF_8),
            Files.readString(err, StandardCharsets.UTF_8));
      } finally {
        Files.deleteIfExists(out);
        Files.deleteIfExists(err);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  static Result run(String... args) {
    return run(List.of(), List.of(), List.of(args));
  }

  /** A test resource as a path. */
  static Path resource(String name) {
    try {
      return Path.of(SvcproxyProcess.class.getResource(name).toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }
}
