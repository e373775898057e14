package dev.svcproxy.cli;

import java.io.PrintWriter;
import java.util.function.Consumer;

/** Prints each reported line at once, so long-running commands show progress. */
final class Lines {
  private Lines() {}

  static Consumer<String> to(PrintWriter out) {
    return line -> {
      out.println(line);
      out.flush();
    };
  }
}
