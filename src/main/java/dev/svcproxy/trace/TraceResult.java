package dev.svcproxy.trace;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/** Every outcome of one traced packet, and what the tracer could not know or evaluate. */
public record TraceResult(PacketSpec packet, List<Outcome> outcomes, List<String> warnings) {
  public TraceResult {
    outcomes = List.copyOf(outcomes);
    warnings = List.copyOf(warnings);
  }

  public boolean allDelivered() {
    return outcomes.stream().allMatch(Outcome::delivered);
  }

  /**
   * The verdict of the trace as a whole: ACCEPT when every outcome is delivered, else the verdict
   * of the most probable outcome that is not (the first of equals).
   */
  @JsonProperty("verdict")
  public Verdict verdict() {
    Outcome worst = null;
    for (Outcome o : outcomes) {
      if (!o.delivered() && (worst == null || o.probability() > worst.probability())) {
        worst = o;
      }
    }
    return worst == null ? Verdict.ACCEPT : worst.verdict();
  }
}
