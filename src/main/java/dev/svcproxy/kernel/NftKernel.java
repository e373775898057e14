package dev.svcproxy.kernel;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.nftables.BaseChain;
import dev.svcproxy.nftables.NftElement;
import dev.svcproxy.nftables.NftSet;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The nftables side of the kernel, all through {@code nft}: a transaction applied with {@code nft
 * -f -} (all of it or none), a table read back with {@code nft -j list table}, a table deleted.
 */
public final class NftKernel {
  private static final Duration APPLY_TIMEOUT = Duration.ofMinutes(10);
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * One chain as the kernel holds it: its hook if a base chain, and its rules as nft prints them
   * ({@link NftJson#rule}), each with its comment and its handle.
   */
  public record Chain(
      String name, Optional<BaseChain> base, List<String> rules, List<Long> handles) {
    public Chain {
      rules = List.copyOf(rules);
      handles = List.copyOf(handles);
    }
  }

  /**
   * What {@code nft -j list table} showed: the table's chains, sets/maps (flags as the kernel
   * reports them, without "dynamic"; timeout in seconds, "" for none) and their elements by set and
   * key ({@link NftElement#keyText()}), in the kernel's order.
   */
  public record Listing(
      String family,
      String table,
      Map<String, Chain> chains,
      Map<String, NftSet> sets,
      Map<String, Map<String, NftElement>> elements) {}

  private final CommandRunner runner;

  public NftKernel(CommandRunner runner) {
    this.runner = runner;
  }

  public CommandRunner runner() {
    return runner;
  }

  /** {@code nft -f -} of {@code transaction}: one atomic transaction. */
  public CommandResult apply(String transaction) {
    return runner.run(List.of("nft", "-f", "-"), transaction, APPLY_TIMEOUT);
  }

  /** The table, or empty when the kernel has no such table. */
  public Optional<Listing> list(String family, String table) {
    CommandResult r =
        runner.run(List.of("nft", "-j", "list", "table", family, table), null, APPLY_TIMEOUT);
    if (!r.ok()) {
      if (absent(r)) {
        return Optional.empty();
      }
      r.orThrow();
    }
    return Optional.of(parse(family, table, r.stdout()));
  }

  /** One chain of the table, or empty when the table or chain is missing. */
  public Optional<Chain> chain(String family, String table, String chain) {
    CommandResult r = runner.run("nft", "-j", "list", "chain", family, table, chain);
    if (!r.ok()) {
      if (absent(r)) {
        return Optional.empty();
      }
      r.orThrow();
    }
    return Optional.ofNullable(parse(family, table, r.stdout()).chains().get(chain));
  }

  /**
   * The chains of the table without their rules, from one {@code nft -j list chains FAMILY} (0.6 s
   * at 110k chains, where listing one chain's rules costs 2.7 s and {@code nft list tables} 7 s:
   * nft 1.0.6 fetches the whole ruleset for those); empty when the table has none.
   */
  public Optional<Map<String, Chain>> chains(String family, String table) {
    CommandResult r =
        runner.run(List.of("nft", "-j", "list", "chains", family), null, APPLY_TIMEOUT);
    r.orThrow();
    Map<String, Chain> out = new LinkedHashMap<>();
    try (JsonParser p = new JsonFactory(JSON).createParser(r.stdout())) {
      while (p.nextToken() != null) {
        if (p.currentToken() == JsonToken.FIELD_NAME && p.currentName().equals("nftables")) {
          p.nextToken();
          while (p.nextToken() == JsonToken.START_OBJECT) {
            JsonNode item = p.readValueAsTree();
            if (item.path("chain").path("table").asText().equals(table)) {
              out.putAll(parse(family, table, "{\"nftables\": [" + item + "]}").chains());
            }
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read nft -j list chains output", e);
    }
    return out.isEmpty() ? Optional.empty() : Optional.of(out);
  }

  /** Deletes the table; false when there was none. */
  public boolean deleteTable(String family, String table) {
    CommandResult r = runner.run("nft", "delete", "table", family, table);
    if (r.ok()) {
      return true;
    }
    if (absent(r)) {
      return false;
    }
    r.orThrow();
    return false;
  }

  /** Whether the table exists (listing only its name, cheap at any size). */
  public boolean tableExists(String family, String table) {
    CommandResult r = runner.run("nft", "list", "tables", family);
    if (!r.ok()) {
      return false;
    }
    return r.stdout().lines().anyMatch(l -> l.strip().equals("table " + family + " " + table));
  }

  private static boolean absent(CommandResult r) {
    return r.stderr().contains("No such file or directory");
  }

  /**
   * Reads {@code nft -j list ...} output one top-level object at a time, so that a table of a
   * hundred thousand rules never sits in memory as one JSON tree.
   */
  static Listing parse(String family, String table, String json) {
    Map<String, Chain> chains = new LinkedHashMap<>();
    Map<String, List<String>> rules = new LinkedHashMap<>();
    Map<String, List<Long>> handles = new LinkedHashMap<>();
    Map<String, NftSet> sets = new LinkedHashMap<>();
    Map<String, Map<String, NftElement>> elements = new LinkedHashMap<>();
    try (JsonParser p = new JsonFactory(JSON).createParser(json)) {
      while (p.nextToken() != null) {
        if (p.currentToken() == JsonToken.FIELD_NAME && p.currentName().equals("nftables")) {
          p.nextToken();
          while (p.nextToken() == JsonToken.START_OBJECT) {
            JsonNode item = p.readValueAsTree();
            read(item, chains, rules, handles, sets, elements);
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read nft -j output", e);
    }
    Map<String, Chain> out = new LinkedHashMap<>();
    for (Chain c : chains.values()) {
      out.put(
          c.name(),
          new Chain(
              c.name(),
              c.base(),
              rules.getOrDefault(c.name(), List.of()),
              handles.getOrDefault(c.name(), List.of())));
    }
    return new Listing(family, table, out, sets, elements);
  }

  private static void read(
      JsonNode item,
      Map<String, Chain> chains,
      Map<String, List<String>> rules,
      Map<String, List<Long>> handles,
      Map<String, NftSet> sets,
      Map<String, Map<String, NftElement>> elements) {
    if (item.has("chain")) {
      JsonNode c = item.get("chain");
      Optional<BaseChain> base =
          c.has("hook")
              ? Optional.of(
                  new BaseChain(
                      c.path("type").asText(), c.get("hook").asText(), c.path("prio").asText()))
              : Optional.empty();
      String name = c.get("name").asText();
      chains.put(name, new Chain(name, base, List.of(), List.of()));
    } else if (item.has("rule")) {
      JsonNode r = item.get("rule");
      String chain = r.get("chain").asText();
      rules.computeIfAbsent(chain, k -> new ArrayList<>()).add(NftJson.rule(r));
      handles.computeIfAbsent(chain, k -> new ArrayList<>()).add(r.path("handle").asLong());
    } else if (item.has("set") || item.has("map")) {
      boolean map = item.has("map");
      JsonNode s = item.get(map ? "map" : "set");
      String name = s.get("name").asText();
      String type = NftJson.type(s.get("type"));
      if (map) {
        type = type + " : " + NftJson.type(s.get("map"));
      }
      List<String> flags = new ArrayList<>();
      s.path("flags").forEach(f -> flags.add(f.asText()));
      if (s.path("flags").isTextual()) {
        flags.clear();
        flags.add(s.get("flags").asText());
      }
      String timeout = s.has("timeout") ? s.get("timeout").asLong() + "s" : "";
      sets.put(name, new NftSet(name, map, type, flags, timeout, s.path("comment").asText("")));
      Map<String, NftElement> elems = new LinkedHashMap<>();
      for (JsonNode e : s.path("elem")) {
        NftElement el = NftJson.element(name, e, map);
        elems.put(el.keyText(), el);
      }
      elements.put(name, elems);
    }
  }
}
