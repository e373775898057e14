package dev.svcproxy.netfilter;

import java.util.List;
import java.util.Optional;

/** The whole of an iptables-save dump or iptables-restore input: tables, then trailing lines. */
public record Ruleset(List<Table> tables, List<String> after) {

  public Ruleset {
    tables = List.copyOf(tables);
    after = List.copyOf(after);
  }

  public Ruleset(List<Table> tables) {
    this(tables, List.of());
  }

  public Optional<Table> table(String name) {
    return tables.stream().filter(t -> t.name().equals(name)).findFirst();
  }

  /** The text, exactly as parsed for a parsed dump. */
  public String print() {
    StringBuilder b = new StringBuilder();
    tables.forEach(t -> b.append(t.print()));
    after.forEach(s -> b.append(SafeText.commentLine("line after the tables", s)).append('\n'));
    return b.toString();
  }
}
