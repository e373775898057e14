package dev.svcproxy.cli;

import java.util.List;
import picocli.CommandLine.Option;

/** The {@code -o/--format} option of trace and doctor (a picocli mixin): text, json or html. */
final class FormatOption {
  @Option(
      names = {"-o", "--format"},
      paramLabel = "FORMAT",
      defaultValue = "text",
      description =
          "text, json or html (a self-contained page; it draws the traced packet's path).")
  String format;

  /** The format, checked; IllegalArgumentException naming -o otherwise. */
  String format() {
    if (!List.of("text", "json", "html").contains(format)) {
      throw new IllegalArgumentException("-o: expected text, json or html, got \"" + format + "\"");
    }
    return format;
  }
}
