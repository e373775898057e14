package dev.svcproxy.cli;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.Spawned;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/**
 * A runner that records and refuses every command: `run` executed in the test JVM must never reach
 * this host's network namespace, even when the code under test is broken.
 */
final class RefusingRunner implements CommandRunner {
  final List<List<String>> commands = new ArrayList<>();

  @Override
  public CommandResult run(List<String> argv, String stdin, Duration timeout) {
    commands.add(argv);
    throw new IllegalStateException("test: run touched the node with " + argv);
  }

  @Override
  public Spawned spawn(List<String> argv, Path log) {
    commands.add(argv);
    throw new IllegalStateException("test: run touched the node with " + argv);
  }

  /** Makes every command as picocli would, but run with this runner. */
  CommandLine.IFactory factory() {
    return new CommandLine.IFactory() {
      @Override
      public <K> K create(Class<K> cls) throws Exception {
        return cls == RunCommand.class
            ? cls.cast(new RunCommand(RefusingRunner.this))
            : CommandLine.defaultFactory().create(cls);
      }
    };
  }
}
