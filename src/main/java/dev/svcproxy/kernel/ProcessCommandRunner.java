package dev.svcproxy.kernel;

import java.io.BufferedWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs commands as child processes, capturing stdout and stderr. */
public final class ProcessCommandRunner implements CommandRunner {

  @Override
  public CommandResult run(List<String> argv, String stdin, Duration timeout) {
    ProcessBuilder pb = new ProcessBuilder(argv);
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      return new CommandResult(argv, 127, "", "cannot run " + argv.get(0) + ": " + e.getMessage());
    }
    CompletableFuture<String> out = drain(p.getInputStream());
    CompletableFuture<String> err = drain(p.getErrorStream());
    // The input is fed from its own thread: a command reads it as it works (iptables-restore
    // line by line), so writing it here would block, and the timeout would start only once the
    // command had read everything. Encoding through a buffered writer avoids a second full copy
    // of a large restore text.
    Thread feeder =
        Thread.ofPlatform()
            .daemon()
            .name("stdin-" + argv.get(0))
            .start(
                () -> {
                  try (Writer in =
                      new BufferedWriter(
                          new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8),
                          1 << 16)) {
                    if (stdin != null) {
                      in.write(stdin);
                    }
                  } catch (IOException e) {
                    // The command exited (or was killed) before reading all its input; its exit
                    // code and stderr say why.
                  }
                });
    try {
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        p.waitFor();
        feeder.join();
        return new CommandResult(argv, 124, out.join(), "timed out after " + timeout);
      }
      feeder.join();
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      return new CommandResult(argv, 130, "", "interrupted");
    }
    return new CommandResult(argv, p.exitValue(), out.join(), err.join());
  }

  @Override
  public int stream(
      List<String> argv, Duration timeout, java.util.function.Consumer<String> stdoutLine) {
    ProcessBuilder pb =
        new ProcessBuilder(argv)
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      System.err.println("cannot run " + argv.get(0) + ": " + e.getMessage());
      return 127;
    }
    // The watchdog ends the command at the deadline; reading then sees the end of its output.
    CompletableFuture<Boolean> inTime =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                if (p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                  return true;
                }
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
              p.destroyForcibly();
              return false;
            });
    try (var r =
        new java.io.BufferedReader(
            new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        stdoutLine.accept(line);
      }
      int code = p.waitFor();
      return inTime.join() ? code : 124;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      return 130;
    }
  }

  @Override
  public Spawned spawn(List<String> argv, java.nio.file.Path log) {
    ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + argv.get(0), e);
    }
    return new Spawned() {
      @Override
      public boolean isAlive() {
        return p.isAlive();
      }

      @Override
      public void close() {
        p.descendants().forEach(ProcessHandle::destroy);
        p.destroy();
        try {
          if (!p.waitFor(5, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(5, TimeUnit.SECONDS);
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    };
  }

  private static CompletableFuture<String> drain(InputStream s) {
    return CompletableFuture.supplyAsync(
        () -> {
          try (s) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            s.transferTo(b);
            return b.toString(StandardCharsets.UTF_8);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
  }
}
