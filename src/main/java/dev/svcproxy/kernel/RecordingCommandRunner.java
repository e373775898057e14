package dev.svcproxy.kernel;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * A fake runner that records every command and answers from a responder (exit 0 with no output
 * unless told otherwise), for tests that must not touch the kernel.
 */
public final class RecordingCommandRunner implements CommandRunner {

  /** One recorded call. */
  public record Call(List<String> argv, String stdin) {
    public String line() {
      return String.join(" ", argv);
    }
  }

  private final List<Call> calls = new ArrayList<>();
  private final Function<Call, CommandResult> responder;

  public RecordingCommandRunner() {
    this(c -> new CommandResult(c.argv(), 0, "", ""));
  }

  public RecordingCommandRunner(Function<Call, CommandResult> responder) {
    this.responder = responder;
  }

  @Override
  public synchronized CommandResult run(List<String> argv, String stdin, Duration timeout) {
    Call c = new Call(List.copyOf(argv), stdin);
    calls.add(c);
    return responder.apply(c);
  }

  @Override
  public synchronized Spawned spawn(List<String> argv, java.nio.file.Path log) {
    calls.add(new Call(List.copyOf(argv), null));
    return new Spawned() {
      @Override
      public boolean isAlive() {
        return false;
      }

      @Override
      public void close() {}
    };
  }

  public synchronized List<Call> calls() {
    return List.copyOf(calls);
  }

  public synchronized void clear() {
    calls.clear();
  }
}
