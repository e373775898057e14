package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.cli.ProxyOptionsAccess;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.testutil.FakeNode;
import dev.svcproxy.testutil.States;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One golden file per service case: the manifests and flags of a case render to exactly its
 * expected.txt. Run with -Dgolden.update=true to rewrite the files after a deliberate change, then
 * review the diff line by line against upstream's proxier.
 */
class GoldenCasesTest {
  private static final Path DIR = Path.of("src/test/resources/golden/cases");

  static Stream<String> cases() throws IOException {
    try (Stream<Path> s = Files.list(DIR)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList().stream();
    }
  }

  @ParameterizedTest
  @MethodSource("cases")
  void render_case_equalsGoldenFile(String name) throws IOException {
    Path dir = DIR.resolve(name);
    List<String> flags =
        new ArrayList<>(List.of("--manifests", dir.resolve("input.yaml").toString()));
    flags.addAll(List.of("--node-name", "test-node"));
    String extra = Files.readString(dir.resolve("flags")).strip();
    if (!extra.isEmpty()) {
      flags.addAll(Arrays.asList(extra.split("\\s+")));
    }
    IptablesConfig cfg = ProxyOptionsAccess.config(flags, FakeNode.runner());
    ProxyState state = States.fromYaml(Files.readString(dir.resolve("input.yaml")));
    String rendered = new IptablesRenderer(cfg).render(state).text();
    Path expected = dir.resolve("expected.txt");
    if (Boolean.getBoolean("golden.update")) {
      Files.writeString(expected, rendered);
    }
    assertThat(rendered).isEqualTo(Files.readString(expected));
  }
}
