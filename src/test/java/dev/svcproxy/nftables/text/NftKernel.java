package dev.svcproxy.nftables.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A throw-away lab node whose nf_tables is the oracle: rulesets are loaded with {@code nft -f} and
 * read back as text and as JSON. Normalisation, and why: the metainfo entry (it names the nft
 * version, which text does not show) is dropped; {@code handle}s are dropped unless the text was
 * listed with {@code -a}; for transactions, the order of elements inside sets and anonymous sets is
 * the kernel's hash order, which a transaction does not determine, so element arrays are sorted; an
 * element's {@code expires} counts down between the two listings, so it is dropped.
 */
final class NftKernel implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final Lab lab;
  private final CommandRunner node;

  NftKernel() {
    if (!new ProcessCommandRunner().run("nft", "--version").ok()) {
      throw new AssertionError("nft is not installed: the kernel oracle of these tests needs it");
    }
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.runner().inNetns(lab.node("node1").netns());
  }

  /** Replaces the node's ruleset with {@code text}; the kernel's error when it refuses it. */
  void load(String text) {
    node.run("nft", "flush", "ruleset").orThrow();
    CommandResult r = node.run(List.of("nft", "-f", "-"), text, Duration.ofSeconds(30));
    if (!r.ok()) {
      throw new AssertionError("nft -f refused the ruleset: " + r.stderr() + "\n" + text);
    }
  }

  /** Runs iptables (the nft backend) in the node, as iptables-nft users leave rules behind. */
  void iptables(String... args) {
    List<String> argv = new ArrayList<>(List.of("iptables-nft"));
    argv.addAll(List.of(args));
    node.run(argv).orThrow();
  }

  /** {@code nft FLAGS list ruleset}, or {@code nft ARGS} when they hold their own "list". */
  String listText(String... flags) {
    List<String> argv = new ArrayList<>(List.of("nft"));
    argv.addAll(List.of(flags));
    if (!argv.contains("list")) {
      argv.addAll(List.of("list", "ruleset"));
    }
    return node.run(argv).orThrow().stdout();
  }

  JsonNode listJson() {
    try {
      return JSON.readTree(node.run("nft", "-j", "list", "ruleset").orThrow().stdout());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    lab.close();
  }

  /** The entries of a {@code {"nftables": [...]}} tree as canonical one-line strings. */
  static List<String> entries(JsonNode root, boolean keepHandles, boolean sortElements) {
    List<String> out = new ArrayList<>();
    for (JsonNode e : root.get("nftables")) {
      if (e.has("metainfo")) {
        continue;
      }
      JsonNode c = e.deepCopy();
      if (!keepHandles) {
        for (JsonNode inner : c) {
          ((ObjectNode) inner).remove("handle");
        }
      }
      out.add(canonical(c, sortElements));
    }
    return out;
  }

  static String canonical(JsonNode n, boolean sortElements) {
    if (n.isObject()) {
      Map<String, String> m = new TreeMap<>();
      for (Map.Entry<String, JsonNode> f : n.properties()) {
        if (f.getKey().equals("expires")) {
          continue;
        }
        String v = canonical(f.getValue(), sortElements);
        if (sortElements
            && (f.getKey().equals("elem") || f.getKey().equals("set"))
            && f.getValue().isArray()) {
          List<String> parts = new ArrayList<>();
          f.getValue().forEach(x -> parts.add(canonical(x, true)));
          parts.sort(null);
          v = "[" + String.join(",", parts) + "]";
        }
        m.put(f.getKey(), v);
      }
      StringBuilder b = new StringBuilder("{");
      m.forEach(
          (k, v) ->
              b.append(b.length() > 1 ? "," : "").append('"').append(k).append("\":").append(v));
      return b.append('}').toString();
    }
    if (n.isArray()) {
      List<String> parts = new ArrayList<>();
      ((ArrayNode) n).forEach(x -> parts.add(canonical(x, sortElements)));
      return "[" + String.join(",", parts) + "]";
    }
    return n.toString();
  }
}
