package dev.svcproxy.trace;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.Locale;

/** Renders a TraceResult for people (one line per step, grouped per outcome) or as JSON. */
public final class TraceFormatter {
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private TraceFormatter() {}

  public static String text(TraceResult r) {
    StringBuilder b = new StringBuilder();
    PacketSpec p = r.packet();
    b.append(
        String.format(
            Locale.ROOT,
            "trace %s %s%s -> %s:%d%n",
            p.proto(),
            p.src() == null ? "(this node)" : p.src(),
            p.sport() > 0 ? ":" + p.sport() : "",
            p.dst(),
            p.dport()));
    int n = 1;
    for (Outcome o : r.outcomes()) {
      b.append(
          String.format(
              Locale.ROOT,
              "%noutcome %d of %d: %s%s, probability %.4f%s%s%s%s%s%n",
              n++,
              r.outcomes().size(),
              describe(o),
              o.reasonCode() == null ? "" : " (" + o.reasonCode() + ")",
              o.probability(),
              o.folded() > 0 ? ", summary of " + o.folded() + " outcomes" : "",
              ipvs(o.ipvs()),
              o.dnat() != null ? ", DNAT to " + o.dnat() : "",
              o.snat() != null
                  ? (o.masquerade() ? ", masqueraded to " : ", SNAT to ") + o.snat()
                  : "",
              o.delivery().isEmpty() ? "" : ", " + o.delivery()));
      for (Step s : o.steps()) {
        if (s.table().isEmpty()) {
          b.append(String.format("  %-11s %s%n", s.hook(), s.text()));
        } else if (s.rule() == 0) {
          b.append(
              String.format("  %-11s %s %s: %s%n", s.hook(), s.table(), s.chain(), s.effect()));
        } else {
          b.append(
              String.format(
                  "  %-11s %s %s #%d: %s%n  %11s   => %s%n",
                  s.hook(), s.table(), s.chain(), s.rule(), s.text(), "", s.effect()));
        }
      }
      if (o.reply() != null) {
        b.append(
            String.format(
                "  %-11s %s%s%n",
                "reply",
                o.reply().returnsHere()
                    ? ""
                    : "NOT BACK THROUGH THIS NODE (" + o.reply().reasonCode() + "): ",
                o.reply().reason()));
      }
    }
    if (!r.warnings().isEmpty()) {
      b.append("\nassumptions and warnings:\n");
      r.warnings().forEach(w -> b.append("  - ").append(w).append('\n'));
    }
    return b.toString();
  }

  /** ", IPVS TCP 10.96.0.10:80 (rr) chose 10.0.1.5:8080" and what pinned it, or "". */
  private static String ipvs(Outcome.Ipvs v) {
    if (v == null) {
      return "";
    }
    return ", IPVS "
        + v.virtualServer()
        + " ("
        + v.scheduler()
        + ")"
        + (v.realServer().isEmpty() ? ": no real server" : " chose " + v.realServer())
        + (v.pinnedBy().isEmpty() ? "" : ", pinned by " + v.pinnedBy());
  }

  private static String describe(Outcome o) {
    return switch (o.verdict()) {
      case ACCEPT -> "delivered";
      case DROP -> "DROPPED";
      case REJECT -> "REJECTED";
      case UNKNOWN -> "UNKNOWN";
    };
  }

  public static String json(TraceResult r) {
    try {
      return JSON.writeValueAsString(r) + "\n";
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
