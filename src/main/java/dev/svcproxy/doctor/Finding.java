package dev.svcproxy.doctor;

import java.util.List;

/**
 * One thing wrong (or worth knowing) about a node's Service data plane. {@code id} is a stable id
 * from the catalogue ({@link Catalogue}); the JSON field names are a contract: fields may be added,
 * never renamed.
 *
 * @param summary one sentence
 * @param evidence what in the node's state shows it, each with where it is
 * @param explanation why it breaks traffic: which packets, which direction
 * @param fix the flag, sysctl, rule or object to change
 * @param references seed documents and upstream issues it corresponds to
 */
public record Finding(
    String id,
    Severity severity,
    String summary,
    List<Evidence> evidence,
    String explanation,
    String fix,
    List<String> references) {
  public Finding {
    if (!Catalogue.ID.matcher(id).matches()) {
      throw new IllegalArgumentException("finding id must be kebab-case: " + id);
    }
    evidence = List.copyOf(evidence);
    references = List.copyOf(references);
  }
}
