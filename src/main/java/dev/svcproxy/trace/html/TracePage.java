package dev.svcproxy.trace.html;

import static dev.svcproxy.trace.html.Html.escape;

import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.TraceResult;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * A trace as one self-contained HTML page: the packet's path drawn as a flow chart (inline SVG),
 * each box linked to its step in the list below with the rule, its place in the bundle and what it
 * did; the failing step highlighted. No network access: inline CSS, JS and SVG, and a content
 * security policy that allows nothing else. Every string from the trace is escaped.
 */
public final class TracePage {
  /** The most outcomes drawn in the chart; the others are listed. */
  public static final int CHART_LIMIT = 24;

  private TracePage() {}

  /** A link from a step's row to more evidence about it (a finding that cites its rule). */
  public record Link(String label, String href) {}

  /** The links to show beside a step, given the step and its rule's place. */
  @FunctionalInterface
  public interface Citations {
    List<Link> of(Step step, Optional<RuleSources.Source> source);

    static Citations none() {
      return (s, src) -> List.of();
    }
  }

  /** The trace as a page. */
  public static String page(TraceResult r, RuleSources sources) {
    StringBuilder b = new StringBuilder();
    b.append("<header><h1>svcproxy trace</h1>\n");
    b.append("<p class=\"packet\">").append(escape(packet(r.packet()))).append("</p>\n");
    b.append(summary(r));
    b.append("</header>\n");
    b.append(sections(r, sources, Citations.none()));
    return document("svcproxy trace: " + packet(r.packet()), b.toString());
  }

  /** "tcp 10.0.0.1:40000 -> 10.96.0.1:443, arrives on eth0" as the trace was asked. */
  public static String packet(PacketSpec p) {
    return p.proto()
        + " "
        + (p.src() == null ? "(this node)" : p.src())
        + (p.sport() > 0 ? ":" + p.sport() : "")
        + " \u2192 "
        + p.dst()
        + (p.dport() > 0 ? ":" + p.dport() : "")
        + (p.inIface().isEmpty() ? "" : ", arrives on " + p.inIface());
  }

  /** The verdict line and links to the failing steps. */
  public static String summary(TraceResult r) {
    StringBuilder b = new StringBuilder();
    long lost = r.outcomes().stream().filter(PathChart::lost).count();
    int n = r.outcomes().size();
    b.append("<p class=\"verdict ")
        .append(lost == 0 ? "ok" : "bad")
        .append("\">")
        .append(
            escape(
                lost == 0
                    ? (n == 1 ? "delivered" : "all " + n + " outcomes delivered")
                    : (r.allDelivered() ? "delivered, but the reply is lost" : r.verdict())
                        + ": "
                        + lost
                        + " of "
                        + n
                        + (n == 1 ? " outcome" : " outcomes")
                        + " lost"))
        .append("</p>\n");
    List<String> failing = new ArrayList<>();
    for (int k = 0; k < n && failing.size() < 8; k++) {
      Outcome o = r.outcomes().get(k);
      int i = PathChart.failingStep(o);
      if (i >= 0) {
        failing.add(link(PathChart.stepId(k + 1, false, i + 1), k + 1, o.steps().get(i), ""));
      }
      int j = PathChart.failingReplyStep(o);
      if (j > 0) {
        failing.add(
            link(PathChart.stepId(k + 1, true, j), k + 1, o.reply().steps().get(j - 1), "reply: "));
      } else if (j == 0) {
        failing.add(
            "<a href=\"#"
                + PathChart.stepId(k + 1, true, 0)
                + "\">outcome "
                + (k + 1)
                + ", reply: "
                + escape(o.reply().reasonCode().name())
                + "</a>");
      }
    }
    if (!failing.isEmpty()) {
      b.append("<p class=\"failing-steps\">Failing step")
          .append(failing.size() > 1 ? "s" : "")
          .append(": ")
          .append(String.join("; ", failing))
          .append("</p>\n");
    }
    return b.toString();
  }

  private static String link(String id, int outcome, Step s, String prefix) {
    return "<a href=\"#"
        + id
        + "\">outcome "
        + outcome
        + ", "
        + escape(prefix + name(s) + (s.effect().isEmpty() ? "" : ": " + s.effect()))
        + (s.reasonCode() == null ? "" : " (" + escape(s.reasonCode().name()) + ")")
        + "</a>";
  }

  /** "nat KUBE-SERVICES #3", or the step's kind and text when no rule is behind it. */
  static String name(Step s) {
    if (s.table().isEmpty()) {
      return s.hook() + " " + s.text();
    }
    return s.table()
        + " "
        + s.chain()
        + (s.rule() > 0 ? " #" + s.rule() : " (" + s.kind().name().toLowerCase(Locale.ROOT) + ")");
  }

  /** The chart, the steps of every outcome and the trace's warnings. */
  public static String sections(TraceResult r, RuleSources sources, Citations cites) {
    PathChart chart = PathChart.of(r, CHART_LIMIT);
    StringBuilder b = new StringBuilder();
    b.append("<section id=\"path\"><h2>The packet's path</h2>\n");
    b.append(LEGEND);
    b.append("<div class=\"chart\">").append(svg(chart, r, sources, cites)).append("</div>\n");
    if (chart.drawn() < r.outcomes().size()) {
      b.append("<p class=\"note\">")
          .append(chart.drawn())
          .append(" of ")
          .append(r.outcomes().size())
          .append(
              " outcomes drawn (those lost first, then the most probable); the others are listed"
                  + " below.</p>\n");
    }
    b.append("</section>\n");
    b.append("<section id=\"steps\"><h2>Steps</h2>\n");
    for (int k = 0; k < r.outcomes().size(); k++) {
      b.append(outcome(r, k, chart, sources, cites));
    }
    b.append("</section>\n");
    if (!r.warnings().isEmpty()) {
      b.append("<section id=\"trace-warnings\"><h2>Assumptions and warnings</h2><ul>\n");
      r.warnings().forEach(w -> b.append("<li>").append(escape(w)).append("</li>\n"));
      b.append("</ul></section>\n");
    }
    return b.toString();
  }

  private static String outcome(
      TraceResult r, int k, PathChart chart, RuleSources sources, Citations cites) {
    Outcome o = r.outcomes().get(k);
    int no = k + 1;
    StringBuilder b = new StringBuilder();
    String rewrites = PathChart.rewrites(o);
    b.append("<section class=\"outcome")
        .append(PathChart.lost(o) ? " lost" : "")
        .append("\" id=\"o")
        .append(no)
        .append("\"><h3>")
        .append(
            escape(
                String.format(
                    Locale.ROOT,
                    "Outcome %d of %d: %s, probability %.4f%s%s",
                    no,
                    r.outcomes().size(),
                    PathChart.verdict(o),
                    o.probability(),
                    rewrites.isEmpty() ? "" : ", " + rewrites,
                    o.outInterface() == null || o.outInterface().isEmpty()
                        ? ""
                        : ", out " + o.outInterface())))
        .append(boxLink(chart, "o" + no))
        .append("</h3>\n");
    if (!chart.boxOf().containsKey("o" + no)) {
      b.append("<p class=\"note\">Not drawn in the chart.</p></section>\n");
      return b.toString();
    }
    if (o.ipvs() != null && !o.ipvs().shares().isEmpty()) {
      b.append("<p class=\"ipvs\">")
          .append(
              escape(
                  "IPVS at "
                      + o.ipvs().hook()
                      + ": "
                      + o.ipvs().virtualServer()
                      + " ("
                      + o.ipvs().scheduler()
                      + ")"
                      + (o.ipvs().pinnedBy().isEmpty() ? "" : ", pinned by " + o.ipvs().pinnedBy())
                      + "; shares: "
                      + o.ipvs().shares().stream()
                          .map(
                              s ->
                                  String.format(
                                      Locale.ROOT,
                                      "%s weight %d p %.4f",
                                      s.realServer(),
                                      s.weight(),
                                      s.probability()))
                          .collect(Collectors.joining(", "))))
          .append("</p>\n");
    }
    b.append(
        "<table><thead><tr><th>#</th><th>hook</th><th>step</th><th>rule</th><th>effect</th>"
            + "<th>source and evidence</th></tr></thead><tbody>\n");
    int failing = PathChart.failingStep(o);
    for (int i = 0; i < o.steps().size(); i++) {
      String id = PathChart.stepId(no, false, i + 1);
      b.append(
          row(id, String.valueOf(i + 1), o.steps().get(i), i == failing, chart, sources, cites));
    }
    if (o.reply() != null) {
      Outcome.Reply rep = o.reply();
      int rf = PathChart.failingReplyStep(o);
      String id = PathChart.stepId(no, true, 0);
      b.append("<tr id=\"")
          .append(id)
          .append("\" class=\"reply-head")
          .append(rf == 0 ? " failing" : "")
          .append("\"><td>")
          .append(boxLink(chart, id))
          .append("</td><td>reply</td><td colspan=\"4\">")
          .append(
              escape(
                  (rep.reasonCode() == null ? "" : rep.reasonCode() + ": ")
                      + rep.reason()
                      + (rep.seenBySenderFrom() == null || rep.seenBySenderFrom().isEmpty()
                          ? ""
                          : " (the sender sees it from " + rep.seenBySenderFrom() + ")")))
          .append("</td></tr>\n");
      for (int i = 0; i < rep.steps().size(); i++) {
        String rid = PathChart.stepId(no, true, i + 1);
        b.append(row(rid, "r" + (i + 1), rep.steps().get(i), rf == i + 1, chart, sources, cites));
      }
    }
    b.append("</tbody></table></section>\n");
    return b.toString();
  }

  private static String boxLink(PathChart chart, String id) {
    String box = chart.boxOf().get(id);
    return box == null
        ? ""
        : " <a class=\"to-chart\" href=\"#" + box + "\" title=\"show in the chart\">\u2191</a>";
  }

  private static String row(
      String id,
      String label,
      Step s,
      boolean failing,
      PathChart chart,
      RuleSources sources,
      Citations cites) {
    Optional<RuleSources.Source> src = sources.locate(s);
    List<Link> links = cites.of(s, src);
    StringBuilder b = new StringBuilder();
    b.append("<tr id=\"").append(id).append('"');
    String box = chart.boxOf().get(id);
    if (box != null) {
      b.append(" data-box=\"").append(box).append('"');
    }
    List<String> cls = new ArrayList<>();
    if (failing) {
      cls.add("failing");
    }
    if (!links.isEmpty()) {
      cls.add("cited");
    }
    if (!cls.isEmpty()) {
      b.append(" class=\"").append(String.join(" ", cls)).append('"');
    }
    b.append("><td>").append(escape(label));
    if (box != null) {
      b.append(boxLink(chart, id));
    }
    b.append("</td><td>").append(escape(s.hook())).append("</td>");
    if (s.table().isEmpty()) {
      b.append("<td>")
          .append(escape(s.kind().name().toLowerCase(Locale.ROOT).replace('_', ' ')))
          .append("</td><td colspan=\"2\">")
          .append(escape(s.text()))
          .append(reason(s))
          .append("</td>");
    } else {
      b.append("<td>")
          .append(escape(s.table() + " " + s.chain() + (s.rule() > 0 ? " #" + s.rule() : "")))
          .append("</td><td><code>")
          .append(escape(s.rule() > 0 ? s.text() : ""))
          .append("</code></td><td>")
          .append(escape(s.effect()))
          .append(reason(s))
          .append("</td>");
    }
    b.append("<td>");
    if (src.isPresent()) {
      b.append("<span class=\"where\">").append(escape(src.get().where())).append("</span>");
      String line = src.get().line();
      if (!line.isEmpty() && !line.equals(s.text().strip())) {
        b.append("<br><code>").append(escape(line)).append("</code>");
      }
    }
    for (Link l : links) {
      b.append("<br><a class=\"cite\" href=\"")
          .append(escape(l.href()))
          .append("\">")
          .append(escape(l.label()))
          .append("</a>");
    }
    b.append("</td></tr>\n");
    return b.toString();
  }

  private static String reason(Step s) {
    return s.reasonCode() == null
        ? ""
        : " <span class=\"reason\">" + escape(s.reasonCode().name()) + "</span>";
  }

  /** The chart as inline SVG; boxes whose step is cited get a mark. */
  static String svg(PathChart c, TraceResult r, RuleSources sources, Citations cites) {
    StringBuilder b = new StringBuilder();
    b.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"")
        .append(c.width())
        .append("\" height=\"")
        .append(c.height())
        .append("\" viewBox=\"0 0 ")
        .append(c.width())
        .append(' ')
        .append(c.height())
        .append("\" role=\"img\" aria-label=\"")
        .append(escape("the path of " + packet(r.packet())))
        .append("\">\n");
    b.append(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\""
            + " markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\""
            + " class=\"arrowhead\"/></marker></defs>\n");
    for (PathChart.Band band : c.bands()) {
      b.append("<g class=\"band")
          .append(band.reply() ? " reply" : "")
          .append("\"><rect x=\"")
          .append(band.x())
          .append("\" y=\"")
          .append(band.y())
          .append("\" width=\"")
          .append(band.w())
          .append("\" height=\"")
          .append(band.h())
          .append("\" rx=\"8\"/><text x=\"")
          .append(band.x() + 8)
          .append("\" y=\"")
          .append(band.y() + 13)
          .append("\">")
          .append(escape(band.label()))
          .append("</text></g>\n");
    }
    for (PathChart.Edge e : c.edges()) {
      b.append("<g class=\"edge\"><polyline points=\"")
          .append(
              e.points().stream().map(p -> p.x() + "," + p.y()).collect(Collectors.joining(" ")))
          .append("\" marker-end=\"url(#arrow)\"/>");
      if (!e.label().isEmpty()) {
        b.append("<text class=\"prob\" x=\"")
            .append(e.labelX())
            .append("\" y=\"")
            .append(e.labelY())
            .append("\">")
            .append(escape(e.label()))
            .append("</text>");
      }
      b.append("</g>\n");
    }
    for (PathChart.Box x : c.boxes()) {
      boolean cited = x.step() != null && !cites.of(x.step(), sources.locate(x.step())).isEmpty();
      b.append("<a href=\"#")
          .append(escape(x.target()))
          .append("\" id=\"")
          .append(escape(x.id()))
          .append("\" class=\"box shape-")
          .append(x.shape().name().toLowerCase(Locale.ROOT))
          .append(" state-")
          .append(x.state().name().toLowerCase(Locale.ROOT))
          .append(cited ? " cited" : "")
          .append("\"><title>")
          .append(escape(x.tooltip()))
          .append("</title>");
      b.append(shape(x));
      if (cited) {
        b.append("<circle class=\"cite-mark\" cx=\"")
            .append(x.x() + x.w() - 4)
            .append("\" cy=\"")
            .append(x.y() + 4)
            .append("\" r=\"7\"/><text class=\"cite-mark-text\" x=\"")
            .append(x.x() + x.w() - 7)
            .append("\" y=\"")
            .append(x.y() + 8)
            .append("\">!</text>");
      }
      int pad = x.shape() == PathChart.Shape.ROUTE ? 22 : 12;
      int ty = x.y() + 18 + (x.shape() == PathChart.Shape.ROUTE ? 4 : 0);
      b.append("<text x=\"").append(x.x() + pad).append("\" y=\"").append(ty).append("\">");
      for (int i = 0; i < x.lines().size(); i++) {
        b.append("<tspan x=\"")
            .append(x.x() + pad)
            .append('"')
            .append(i == 0 ? " class=\"head\"" : " dy=\"14\"")
            .append('>')
            .append(escape(Html.clip(x.lines().get(i), PathChart.LINE_CHARS)))
            .append("</tspan>");
      }
      b.append("</text></a>\n");
    }
    b.append("</svg>");
    return b.toString();
  }

  private static String shape(PathChart.Box x) {
    int l = x.x();
    int t = x.y();
    int w = x.w();
    int h = x.h();
    return switch (x.shape()) {
      case ROUTE ->
          "<polygon class=\"shape\" points=\""
              + l
              + ","
              + (t + h / 2)
              + " "
              + (l + 16)
              + ","
              + t
              + " "
              + (l + w - 16)
              + ","
              + t
              + " "
              + (l + w)
              + ","
              + (t + h / 2)
              + " "
              + (l + w - 16)
              + ","
              + (t + h)
              + " "
              + (l + 16)
              + ","
              + (t + h)
              + "\"/>";
      case IPVS -> rect(l, t, w, h, 4, "shape") + rect(l + 3, t + 3, w - 6, h - 6, 3, "inner");
      case PACKET, DELIVERY, VERDICT, REPLY -> rect(l, t, w, h, h / 2, "shape");
      case CONNTRACK -> rect(l, t, w, h, 12, "shape");
      default -> rect(l, t, w, h, 4, "shape");
    };
  }

  private static String rect(int x, int y, int w, int h, int rx, String cls) {
    return "<rect class=\""
        + cls
        + "\" x=\""
        + x
        + "\" y=\""
        + y
        + "\" width=\""
        + w
        + "\" height=\""
        + h
        + "\" rx=\""
        + rx
        + "\"/>";
  }

  private static final String LEGEND =
      "<div class=\"legend\"><span class=\"k k-packet\">packet</span>"
          + "<span class=\"k k-route\">routing decision</span>"
          + "<span class=\"k k-conntrack\">conntrack</span>"
          + "<span class=\"k k-rule\">rule</span>"
          + "<span class=\"k k-nat\">NAT rewrite</span>"
          + "<span class=\"k k-ipvs\">IPVS</span>"
          + "<span class=\"k k-pass\">not taken / return</span>"
          + "<span class=\"k k-failing\">failing step</span>"
          + "<span class=\"k k-cited\">cited by a finding</span>"
          + "</div>\n";

  /** The highlight of the failing step (its fill): the one colour nothing else in a chart uses. */
  public static final String FAILING_FILL = "#ffb0b0";

  static final String STYLE =
      """
      body{font:14px/1.4 system-ui,sans-serif;color:#1f2328;margin:0;padding:16px 24px;background:#fff}
      h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}h3{font-size:14px;margin:16px 0 6px}
      code,.packet,.where,svg text{font-family:"DejaVu Sans Mono",monospace}
      .packet{font-size:15px;margin:4px 0}
      .verdict{font-weight:600;margin:4px 0}.verdict.ok{color:#1a7f37}.verdict.bad{color:#c00000}
      .failing-steps a{color:#c00000}
      .chart{overflow:auto;border:1px solid #d0d7de;border-radius:6px;max-width:100%}
      .legend{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 8px;font-size:12px}
      .legend .k{border:1px solid #57606a;border-radius:4px;padding:1px 6px;background:#fff}
      .legend .k-packet{background:#e6f4ea;border-color:#1a7f37;border-radius:10px}
      .legend .k-route{background:#fff8e1;border-color:#9a6700}
      .legend .k-conntrack{background:#eef2ff;border-color:#4f5bd5;border-radius:8px}
      .legend .k-nat{background:#fff1e5;border-color:#bc4c00}
      .legend .k-ipvs{background:#f5eefe;border-color:#8250df;border-style:double;border-width:3px}
      .legend .k-pass{background:#f6f8fa;border-color:#8c959f;border-style:dashed;color:#57606a}
      .legend .k-failing{background:#ffb0b0;border-color:#c00000;border-width:2px}
      .legend .k-cited{border-color:#0969da;border-width:2px}
      svg text{font-size:11px;fill:#1f2328}
      svg .head{font-weight:700}
      .band rect{fill:#f3f6fa;stroke:#d8dee4}.band text{font-size:10px;fill:#57606a;font-weight:700;letter-spacing:.04em}
      .band.reply rect{fill:#eaf3ff;stroke:#b6d4fb}
      .edge polyline{fill:none;stroke:#57606a;stroke-width:1.3}.arrowhead{fill:#57606a}
      .edge .prob{font-size:11px;fill:#8250df;font-weight:700}
      .box .shape{fill:#fff;stroke:#57606a;stroke-width:1.2}
      .box.shape-packet .shape,.box.shape-delivery .shape{fill:#e6f4ea;stroke:#1a7f37}
      .box.shape-route .shape{fill:#fff8e1;stroke:#9a6700}
      .box.shape-conntrack .shape{fill:#eef2ff;stroke:#4f5bd5}
      .box.shape-nat .shape{fill:#fff1e5;stroke:#bc4c00;stroke-width:1.8}
      .box.shape-ipvs .shape{fill:#f5eefe;stroke:#8250df}.box .inner{fill:none;stroke:#8250df}
      .box.shape-participant .shape{fill:#e7f6f8;stroke:#1b7c83}
      .box.shape-pass .shape{fill:#f6f8fa;stroke:#8c959f;stroke-dasharray:4 3}
      .box.shape-pass text{fill:#57606a}
      .box.shape-policy .shape{fill:#f6f8fa;stroke:#24292f;stroke-width:1.8}
      .box.shape-note .shape{fill:#fffbdd;stroke:#d4a72c}
      .box.shape-reply .shape{fill:#eaf3ff;stroke:#0969da}
      .box.shape-verdict .shape{fill:#fff;stroke-width:2.5}
      .box.state-delivered .shape{stroke:#1a7f37}.box.state-lost .shape{stroke:#c00000}
      .box.state-unknown .shape{fill:#fff3c4;stroke:#9a6700}
      .box.state-failing .shape{fill:#ffb0b0;stroke:#c00000;stroke-width:3}
      .box.cited .shape{stroke:#0969da;stroke-width:2.5}
      .box.state-failing.cited .shape{stroke:#c00000}
      .cite-mark{fill:#0969da}.cite-mark-text{fill:#fff;font-weight:700}
      .box:hover .shape,.box.hot .shape,.box:target .shape{stroke-width:3.5}
      table{border-collapse:collapse;width:100%;font-size:12px}
      th,td{border-bottom:1px solid #d8dee4;padding:3px 6px;text-align:left;vertical-align:top}
      th{background:#f6f8fa}
      td code{white-space:pre-wrap;word-break:break-all}
      tr.failing td{background:#ffe3e3}tr.failing td:first-child{border-left:4px solid #c00000}
      tr.reply-head td{background:#eaf3ff}tr.reply-head.failing td{background:#ffe3e3}
      tr:target td{outline:2px solid #0969da}tr.hot td{background:#fff8c5}
      .reason{color:#c00000;font-weight:700}.cite{color:#0969da}
      .to-chart{text-decoration:none}
      .note{color:#57606a}
      .finding{border:1px solid #d0d7de;border-left-width:6px;border-radius:6px;padding:6px 12px;margin:8px 0}
      .finding.sev-error{border-left-color:#c00000}.finding.sev-warning{border-left-color:#9a6700}
      .finding.sev-info{border-left-color:#0969da}
      .finding h3{margin:4px 0}.finding ul{margin:4px 0;padding-left:20px}
      .finding:target{outline:2px solid #0969da}
      .sev{text-transform:uppercase;font-size:11px;font-weight:700}
      footer{margin-top:24px;color:#57606a;font-size:12px}
      """;

  static final String SCRIPT =
      """
      (function () {
        // A wide chart scrolls inside its frame: bring the failing step into view there (the page
        // itself is not scrolled, so it opens at its summary, which links to the failing step).
        var failing = document.querySelector('.box.state-failing');
        var frame = document.querySelector('.chart');
        if (failing && frame) {
          var f = frame.getBoundingClientRect(), r = failing.getBoundingClientRect();
          if (r.right > f.right || r.left < f.left) {
            frame.scrollLeft += r.left - f.left - (f.width - r.width) / 2;
          }
        }
        function hot(e, on) {
          var row = e.target.closest ? e.target.closest('tr[data-box]') : null;
          if (!row) return;
          var box = document.getElementById(row.getAttribute('data-box'));
          if (box) box.classList.toggle('hot', on);
          row.classList.toggle('hot', on);
        }
        document.addEventListener('mouseover', function (e) { hot(e, true); });
        document.addEventListener('mouseout', function (e) { hot(e, false); });
      })();
      """;

  /**
   * A complete page around {@code body}: its style and script inline, and a content security policy
   * that lets only these two run and loads nothing (no network, no other script even if one were
   * injected).
   */
  public static String document(String title, String body) {
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        + "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src '"
        + hash(STYLE)
        + "'; script-src '"
        + hash(SCRIPT)
        + "'; img-src data:\">\n"
        + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        + "<title>"
        + escape(title)
        + "</title>\n<style>"
        + STYLE
        + "</style></head>\n<body>\n"
        + body
        + "<footer>Made by svcproxy: a self-contained page (no network access). Click a box to"
        + " see its step; \u2191 goes back to the chart.</footer>\n<script>"
        + SCRIPT
        + "</script>\n</body></html>\n";
  }

  /** The CSP source for an inline element's exact text. */
  static String hash(String inline) {
    try {
      byte[] d =
          MessageDigest.getInstance("SHA-256").digest(inline.getBytes(StandardCharsets.UTF_8));
      return "sha256-" + Base64.getEncoder().encodeToString(d);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
