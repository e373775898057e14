package dev.svcproxy.nftables.text;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.svcproxy.testutil.KernelTests;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The kernel is the oracle: our JSON of nft's text equals what nft -j prints for the same ruleset.
 */
class NftTextConverterKernelTest {
  private static NftKernel kernel;

  @BeforeAll
  static void setUp() {
    KernelTests.require("nft text conversion against the kernel");
    kernel = new NftKernel();
  }

  @AfterAll
  static void tearDown() {
    if (kernel != null) {
      kernel.close();
    }
  }

  static String resource(String name) {
    try (InputStream in =
        NftTextConverterKernelTest.class.getResourceAsStream("/nftables/text/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** Loads {@code text}, then checks the listing's conversion and (if asked) the input's. */
  private static void check(String name, String text, boolean alsoInput) {
    kernel.load(text);
    JsonNode truth = kernel.listJson();
    String listing = kernel.listText();
    assertThat(NftKernel.entries(NftTextConverter.toJson(name, listing), false, false))
        .as("conversion of nft list ruleset\n" + listing)
        .containsExactlyElementsOf(NftKernel.entries(truth, false, false));
    String annotated = kernel.listText("-a");
    assertThat(NftKernel.entries(NftTextConverter.toJson(name, annotated), true, false))
        .as("conversion of nft -a list ruleset\n" + annotated)
        .containsExactlyElementsOf(NftKernel.entries(truth, true, false));
    if (alsoInput) {
      assertThat(NftKernel.entries(NftTextConverter.toJson(name, text), false, true))
          .as("conversion of the input " + name)
          .containsExactlyElementsOf(NftKernel.entries(truth, false, true));
    }
  }

  @Test
  void toJson_upstreamOverallDump_equalsKernelJson() {
    check("upstream-overall.nft", resource("upstream-overall.nft"), true);
  }

  @Test
  void toJson_firewalldLikeInetTable_equalsKernelJson() {
    check("firewalld.nft", resource("firewalld.nft"), true);
  }

  @Test
  void toJson_dockerLikeTables_equalsKernelJson() {
    check("docker.nft", resource("docker.nft"), true);
  }

  @Test
  void toJson_handWrittenConstructs_equalsKernelJson() {
    check("constructs.nft", resource("constructs.nft"), true);
  }

  @Test
  void toJson_seededGeneratedTransactions_equalKernelJson() {
    for (long seed = 1; seed <= 60; seed++) {
      String tx = RulesetGenerator.transaction(seed);
      check("generated seed " + seed, tx, true);
    }
  }
}
