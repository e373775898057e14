package dev.svcproxy.cli;

import dev.svcproxy.config.KubeProxyConfiguration;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * Joins --config and the command line: the file's fields go into the options the command line did
 * not give, so flags given explicitly win; and --write-config-to writes the result.
 */
final class ConfigFlags {
  private static final Logger LOG = LoggerFactory.getLogger(ConfigFlags.class);

  private ConfigFlags() {}

  /**
   * Resolves the effective configuration of {@code spec}'s command: reads {@code file} (if any),
   * puts the explicitly given flags over it, validates, and sets every option that has a config
   * field and was not given. Returns the effective configuration.
   */
  static KubeProxyConfiguration resolve(CommandSpec spec, Path file) {
    ParseResult parsed = spec.commandLine().getParseResult();
    Map<String, Object> given = new HashMap<>();
    for (String flag : KubeProxyConfiguration.flags()) {
      OptionSpec o = spec.findOption(flag);
      if (o != null && parsed.hasMatchedOption(flag)) {
        Object value = o.getValue();
        given.put(flag, value instanceof Path p ? p.toString() : value);
      }
    }
    KubeProxyConfiguration base =
        file == null ? KubeProxyConfiguration.defaults() : KubeProxyConfiguration.read(file);
    for (String w : base.warnings()) {
      LOG.warn("{}", w);
    }
    KubeProxyConfiguration effective = base.withFlags(given);
    if (file != null) {
      for (String flag : KubeProxyConfiguration.flags()) {
        OptionSpec o = spec.findOption(flag);
        if (o != null && !given.containsKey(flag)) {
          o.setValue(forOption(o, effective.flagValue(flag)));
        }
      }
    }
    return effective;
  }

  private static Object forOption(OptionSpec o, Object v) {
    if (v != null && o.type() == Path.class) {
      return Path.of(v.toString());
    }
    if (v instanceof List<?> && o.type() != List.class) {
      throw new IllegalStateException(o.longestName() + " is not a list option");
    }
    return v;
  }

  /** --write-config-to: the effective configuration as upstream writes it. */
  static void write(KubeProxyConfiguration cfg, Path to) {
    try {
      Files.writeString(to, cfg.toYaml(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new CliException(
          ExitCodes.USAGE, "--write-config-to " + to + ": cannot write: " + e.getMessage());
    }
    LOG.info("Wrote configuration to {}", to);
  }
}
