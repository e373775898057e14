package dev.svcproxy.doctor;

import static dev.svcproxy.trace.html.Html.escape;

import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.html.PathChart;
import dev.svcproxy.trace.html.RuleSources;
import dev.svcproxy.trace.html.TracePage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A doctor report as one self-contained HTML page: the findings with their evidence, why and fix,
 * then (with a packet) its path drawn as the trace page draws it. A step whose rule a finding cites
 * as evidence links to the finding, and the evidence links back to the step.
 */
public final class DoctorHtml {
  private DoctorHtml() {}

  /** The report as a page; {@code files} are the node's files, to place each step's rule. */
  public static String page(DoctorReport r, BundleFiles files) {
    Map<String, String> texts = new TreeMap<>();
    for (String name : files.names()) {
      files.text(name).ifPresent(t -> texts.put(name, t));
    }
    RuleSources sources = files.isLive() ? RuleSources.live(texts) : RuleSources.bundle(texts);
    TraceResult trace = r.trace();
    StringBuilder b = new StringBuilder();
    b.append("<header><h1>svcproxy doctor</h1>\n");
    if (trace != null) {
      b.append("<p class=\"packet\">")
          .append(escape(TracePage.packet(trace.packet())))
          .append("</p>\n");
    }
    long errors = r.findings().stream().filter(f -> f.severity() == Severity.ERROR).count();
    b.append("<p class=\"verdict ")
        .append(errors > 0 ? "bad" : "ok")
        .append("\">")
        .append(escape(counts(r) + "; confidence: " + r.confidence().label()))
        .append("</p>\n");
    if (trace != null) {
      b.append(TracePage.summary(trace));
    }
    b.append("</header>\n");
    b.append("<section id=\"findings\"><h2>Findings</h2>\n");
    if (r.findings().isEmpty()) {
      b.append("<p>No findings.</p>\n");
    }
    for (int i = 0; i < r.findings().size(); i++) {
      b.append(finding(i + 1, r.findings().get(i), trace, sources));
    }
    b.append("</section>\n");
    if (trace != null) {
      b.append(TracePage.sections(trace, sources, (step, src) -> citing(r.findings(), step, src)));
    } else {
      b.append(
          "<section id=\"path\"><h2>The packet's path</h2><p class=\"note\">No packet was traced:"
              + " give --dst (and --src) to draw its path through the node.</p></section>\n");
    }
    list(b, "assumptions", "Assumed for what is missing", r.assumptions());
    list(b, "warnings", "Warnings", r.warnings());
    return TracePage.document("svcproxy doctor: " + counts(r), b.toString());
  }

  private static String counts(DoctorReport r) {
    if (r.findings().isEmpty()) {
      return "no findings";
    }
    List<String> parts = new ArrayList<>();
    for (Severity s : Severity.values()) {
      long n = r.findings().stream().filter(f -> f.severity() == s).count();
      if (n > 0) {
        parts.add(n + " " + s.label() + (n > 1 && s != Severity.INFO ? "s" : ""));
      }
    }
    return r.findings().size()
        + (r.findings().size() == 1 ? " finding (" : " findings (")
        + String.join(", ", parts)
        + ")";
  }

  private static void list(StringBuilder b, String id, String title, List<String> items) {
    if (items.isEmpty()) {
      return;
    }
    b.append("<section id=\"")
        .append(id)
        .append("\"><h2>")
        .append(escape(title))
        .append("</h2><ul>\n");
    items.forEach(i -> b.append("<li>").append(escape(i)).append("</li>\n"));
    b.append("</ul></section>\n");
  }

  private static String finding(int no, Finding f, TraceResult trace, RuleSources sources) {
    StringBuilder b = new StringBuilder();
    b.append("<article class=\"finding sev-")
        .append(escape(f.severity().label()))
        .append("\" id=\"f")
        .append(no)
        .append("\"><h3><span class=\"sev\">")
        .append(escape(f.severity().label()))
        .append("</span> <code>")
        .append(escape(f.id()))
        .append("</code>: ")
        .append(escape(f.summary()))
        .append("</h3>\n");
    if (!f.evidence().isEmpty()) {
      b.append("<ul class=\"evidence\">\n");
      for (Evidence e : f.evidence()) {
        b.append("<li>");
        if (!e.where().isEmpty()) {
          b.append("<span class=\"where\">").append(escape(e.where())).append("</span>: ");
        }
        b.append("<code>").append(escape(e.text())).append("</code>");
        for (String step : steps(trace, sources, e)) {
          b.append(" <a class=\"cite\" href=\"#")
              .append(step)
              .append("\">step ")
              .append(escape(step))
              .append("</a>");
        }
        b.append("</li>\n");
      }
      b.append("</ul>\n");
    }
    b.append("<p><b>Why:</b> ").append(escape(f.explanation())).append("</p>\n");
    b.append("<p><b>Fix:</b> ").append(escape(f.fix())).append("</p>\n");
    if (!f.references().isEmpty()) {
      b.append("<p><b>See:</b> ")
          .append(escape(String.join(", ", f.references())))
          .append("</p>\n");
    }
    b.append("</article>\n");
    return b.toString();
  }

  /**
   * Whether evidence is about a step's rule: it quotes the rule as the trace printed it, or names
   * the same line of the same file.
   */
  static boolean cites(Evidence e, Step s, Optional<RuleSources.Source> src) {
    if (s.table().isEmpty()) {
      return false;
    }
    if (s.rule() > 0 && !s.text().isBlank() && e.text().strip().equals(s.text().strip())) {
      return true;
    }
    return src.isPresent() && !e.where().isEmpty() && e.where().equals(src.get().where());
  }

  private static List<TracePage.Link> citing(
      List<Finding> findings, Step s, Optional<RuleSources.Source> src) {
    List<TracePage.Link> out = new ArrayList<>();
    for (int i = 0; i < findings.size(); i++) {
      Finding f = findings.get(i);
      if (f.evidence().stream().anyMatch(e -> cites(e, s, src))) {
        out.add(new TracePage.Link("evidence of " + f.id(), "#f" + (i + 1)));
      }
    }
    return out;
  }

  /** The ids of the steps (of the first outcome that has one, per leg) the evidence is about. */
  private static List<String> steps(TraceResult trace, RuleSources sources, Evidence e) {
    List<String> out = new ArrayList<>();
    if (trace == null) {
      return out;
    }
    for (int k = 0; k < trace.outcomes().size() && out.size() < 4; k++) {
      Outcome o = trace.outcomes().get(k);
      for (int i = 0; i < o.steps().size(); i++) {
        Step s = o.steps().get(i);
        if (cites(e, s, sources.locate(s))) {
          out.add(PathChart.stepId(k + 1, false, i + 1));
          break;
        }
      }
      if (o.reply() != null) {
        for (int i = 0; i < o.reply().steps().size(); i++) {
          Step s = o.reply().steps().get(i);
          if (cites(e, s, sources.locate(s))) {
            out.add(PathChart.stepId(k + 1, true, i + 1));
            break;
          }
        }
      }
    }
    return out;
  }
}
