package dev.svcproxy.testutil;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import dev.svcproxy.source.ManifestParser;
import dev.svcproxy.source.ManifestSet;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/** Builds ProxyStates from manifest text for tests. */
public final class States {
  private States() {}

  public static ProxyState fromYaml(String yaml) {
    ManifestSet set = new ManifestParser().parse("test.yaml", yaml);
    if (!set.problems().isEmpty()) {
      throw new IllegalArgumentException(set.problems().toString());
    }
    return ProxyStateBuilder.build(set.services(), set.slices());
  }

  public static String resource(String path) {
    try (InputStream in = States.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new IllegalArgumentException("no resource " + path);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
