package dev.svcproxy.nftables;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * An ordered list of nft commands on one table, printed in the syntax {@code nft -f} reads and
 * knftables writes ("add rule ip kube-proxy services ip daddr ... vmap @service-ips"), so that the
 * same text is what svcproxy sends and what upstream's tests expect. nft applies a file as one
 * transaction: all of it or, when any command is refused, none of it.
 */
public final class NftTransaction {
  private final String family;
  private final String table;
  private final List<String> lines = new ArrayList<>();

  public NftTransaction(String family, String table) {
    this.family = NftText.name("table family", family);
    this.table = NftText.name("table", table);
  }

  /** A transaction on the table of {@code ruleset}. */
  public static NftTransaction on(NftRuleset ruleset) {
    return new NftTransaction(ruleset.family(), ruleset.table());
  }

  public String family() {
    return family;
  }

  public String table() {
    return table;
  }

  /** "add table ip kube-proxy { comment "..." ; }" (or create/delete/flush of the table). */
  public NftTransaction table(NftVerb verb, String comment) {
    String c = NftText.comment("table comment", comment == null ? "" : comment);
    String block = verb == NftVerb.ADD || verb == NftVerb.CREATE ? block(List.of(), c) : "";
    return line(verb.keyword() + " table " + family + " " + table + block);
  }

  /** add/create declare the chain (with its hook if a base chain); flush/delete name it. */
  public NftTransaction chain(NftVerb verb, NftChain chain) {
    String head = verb.keyword() + " chain " + family + " " + table + " " + chain.name();
    if (verb != NftVerb.ADD && verb != NftVerb.CREATE) {
      return line(head);
    }
    List<String> parts = new ArrayList<>();
    chain
        .base()
        .ifPresent(
            b -> parts.add("type " + b.type() + " hook " + b.hook() + " priority " + b.priority()));
    return line(head + block(parts, chain.comment()));
  }

  /** "add rule ip kube-proxy CHAIN BODY [comment "..."]". */
  public NftTransaction addRule(NftRule rule) {
    String c = rule.comment().isEmpty() ? "" : " comment \"" + rule.comment() + "\"";
    return line("add rule " + family + " " + table + " " + rule.chain() + " " + rule.body() + c);
  }

  /** add/create declare the set or map with its type and options; flush/delete name it. */
  public NftTransaction set(NftVerb verb, NftSet set) {
    String head =
        verb.keyword() + (set.map() ? " map " : " set ") + family + " " + table + " " + set.name();
    if (verb != NftVerb.ADD && verb != NftVerb.CREATE) {
      return line(head);
    }
    List<String> parts = new ArrayList<>();
    parts.add("type " + set.type());
    if (!set.flags().isEmpty()) {
      parts.add("flags " + String.join(",", set.flags()));
    }
    if (!set.timeout().isEmpty()) {
      parts.add("timeout " + set.timeout());
    }
    return line(head + block(parts, set.comment()));
  }

  /**
   * "add element ip kube-proxy SET { KEY [comment "..."] [: VALUE] }"; a delete names the key
   * alone, as nft wants it.
   */
  public NftTransaction element(NftVerb verb, NftElement e) {
    if (verb != NftVerb.ADD && verb != NftVerb.CREATE && verb != NftVerb.DELETE) {
      throw new IllegalArgumentException("nft has no " + verb.keyword() + " element");
    }
    StringBuilder sb =
        new StringBuilder(verb.keyword())
            .append(" element ")
            .append(family)
            .append(' ')
            .append(table)
            .append(' ')
            .append(e.set())
            .append(" { ")
            .append(e.keyText());
    if (verb != NftVerb.DELETE) {
      if (!e.comment().isEmpty()) {
        sb.append(" comment \"").append(e.comment()).append('"');
      }
      if (!e.value().isEmpty()) {
        sb.append(" : ").append(String.join(" . ", e.value()));
      }
    }
    return line(sb.append(" }").toString());
  }

  /** The commands so far, one per line. */
  public List<String> lines() {
    return Collections.unmodifiableList(lines);
  }

  public boolean isEmpty() {
    return lines.isEmpty();
  }

  public int size() {
    return lines.size();
  }

  /** The whole transaction as {@code nft -f} reads it, one command per line. */
  public String text() {
    StringBuilder sb = new StringBuilder();
    for (String l : lines) {
      sb.append(l).append('\n');
    }
    return sb.toString();
  }

  private NftTransaction line(String l) {
    lines.add(l);
    return this;
  }

  private static String block(List<String> parts, String comment) {
    List<String> all = new ArrayList<>(parts);
    if (!comment.isEmpty()) {
      all.add("comment \"" + comment + "\"");
    }
    if (all.isEmpty()) {
      return "";
    }
    StringBuilder sb = new StringBuilder(" {");
    for (String p : all) {
      sb.append(' ').append(p).append(" ;");
    }
    return sb.append(" }").toString();
  }
}
