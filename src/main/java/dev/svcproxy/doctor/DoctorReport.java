package dev.svcproxy.doctor;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.svcproxy.trace.TraceResult;
import java.util.List;
import java.util.Locale;

/**
 * What the doctor found: the findings (most severe first), the packet's trace when one was given,
 * the warnings about the input, what was assumed for what is missing, and the confidence that
 * follows from it. The JSON names are a contract: fields may be added, never renamed.
 */
@JsonPropertyOrder({"findings", "trace", "warnings", "assumptions", "confidence"})
public record DoctorReport(
    List<Finding> findings,
    @JsonInclude(JsonInclude.Include.NON_NULL) TraceResult trace,
    List<String> warnings,
    List<String> assumptions,
    Confidence confidence) {
  public DoctorReport {
    findings = List.copyOf(findings);
    warnings = List.copyOf(warnings);
    assumptions = List.copyOf(assumptions);
  }

  /**
   * How far the findings can be trusted: HIGH when nothing had to be assumed, MEDIUM when some
   * input was missing, LOW when the node's addresses or routes were unknown (every trace guesses).
   */
  public enum Confidence {
    HIGH,
    MEDIUM,
    LOW;

    @JsonValue
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }
}
