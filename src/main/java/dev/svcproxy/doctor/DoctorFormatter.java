package dev.svcproxy.doctor;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.svcproxy.trace.TraceFormatter;
import dev.svcproxy.trace.TraceResult;
import java.util.List;
import java.util.Locale;

/** Prints a doctor report for people (text) and programs (JSON). */
public final class DoctorFormatter {
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private DoctorFormatter() {}

  /** The report as text: findings with evidence, fix and references; then the trace. */
  public static String text(DoctorReport r) {
    StringBuilder b = new StringBuilder();
    if (r.findings().isEmpty()) {
      b.append("no findings\n");
    }
    for (Finding f : r.findings()) {
      b.append(
          String.format(Locale.ROOT, "%-7s %s: %s%n", f.severity().label(), f.id(), f.summary()));
      if (!f.evidence().isEmpty()) {
        b.append("  evidence:\n");
        f.evidence().forEach(e -> b.append("    ").append(e).append('\n'));
      }
      b.append("  why: ").append(f.explanation()).append('\n');
      b.append("  fix: ").append(f.fix()).append('\n');
      if (!f.references().isEmpty()) {
        b.append("  see: ").append(String.join(", ", f.references())).append('\n');
      }
    }
    if (r.trace() != null) {
      // The trace's own notes are printed once below, under "assumed:" or "warnings:".
      TraceResult t = new TraceResult(r.trace().packet(), r.trace().outcomes(), List.of());
      b.append('\n').append(TraceFormatter.text(t));
    }
    if (!r.assumptions().isEmpty()) {
      b.append("\nassumed:\n");
      r.assumptions().forEach(a -> b.append("  ").append(a).append('\n'));
    }
    if (!r.warnings().isEmpty()) {
      b.append("\nwarnings:\n");
      r.warnings().forEach(w -> b.append("  ").append(w).append('\n'));
    }
    b.append("confidence: ").append(r.confidence().label()).append('\n');
    return b.toString();
  }

  /** The report as JSON; its field names are a contract. */
  public static String json(DoctorReport r) {
    try {
      return JSON.writeValueAsString(r) + "\n";
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
