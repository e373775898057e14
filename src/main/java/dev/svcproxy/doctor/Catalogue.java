package dev.svcproxy.doctor;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/** The catalogue of finding ids: every check declares its entries; ids are unique and stable. */
public final class Catalogue {
  static final Pattern ID = Pattern.compile("[a-z0-9]+(-[a-z0-9]+)*");

  private Catalogue() {}

  /**
   * One kind of finding: its stable id, its usual severity, a title for the catalogue, and the seed
   * documents or upstream issues it corresponds to.
   */
  public record Entry(String id, Severity severity, String title, List<String> references) {
    public Entry {
      if (!ID.matcher(id).matches()) {
        throw new IllegalArgumentException("catalogue id must be kebab-case: " + id);
      }
      references = List.copyOf(references);
    }

    /** A finding of this kind, with this entry's id, severity and references. */
    public Finding finding(
        String summary, List<Evidence> evidence, String explanation, String fix) {
      return new Finding(id, severity, summary, evidence, explanation, fix, references);
    }

    /** The same, with another severity (e.g. an expected drop reported as info). */
    public Finding finding(
        Severity s, String summary, List<Evidence> evidence, String explanation, String fix) {
      return new Finding(id, s, summary, evidence, explanation, fix, references);
    }
  }

  /** Every entry of every check, in check order; fails on a duplicate id. */
  public static List<Entry> of(List<Check> checks) {
    List<Entry> all = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (Check c : checks) {
      for (Entry e : c.entries()) {
        if (!seen.add(e.id())) {
          throw new IllegalStateException("duplicate catalogue id " + e.id());
        }
        all.add(e);
      }
    }
    return List.copyOf(all);
  }
}
