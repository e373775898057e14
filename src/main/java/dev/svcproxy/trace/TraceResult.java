package dev.svcproxy.trace;

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
}
