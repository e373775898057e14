package dev.svcproxy.trace.html;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.Verdict;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class TracePageTest {
  /** Markup in every field a bundle controls. */
  static final String EVIL = "<script>x()</script><img src=x onerror=y()>\"'&</svg><b";

  /** The elements the page is made of; anything else came from the data. */
  static final Set<String> TAGS =
      Set.of(
          "!DOCTYPE",
          "html",
          "head",
          "meta",
          "title",
          "style",
          "body",
          "header",
          "h1",
          "h2",
          "h3",
          "p",
          "a",
          "section",
          "div",
          "span",
          "svg",
          "defs",
          "marker",
          "path",
          "g",
          "rect",
          "text",
          "polyline",
          "polygon",
          "circle",
          "tspan",
          "table",
          "thead",
          "tbody",
          "tr",
          "th",
          "td",
          "code",
          "br",
          "ul",
          "li",
          "footer",
          "script",
          "b",
          "article");

  static TraceResult hostile() {
    Step evil =
        new Step(
            StepKind.TARGET,
            "OUTPUT" + EVIL,
            "filter",
            "KUBE-" + EVIL,
            1,
            "-A KUBE " + EVIL,
            "REJECT" + EVIL,
            ReasonCode.REJECTED);
    Step note = Step.note(StepKind.PACKET, "OUTPUT", "packet " + EVIL);
    Outcome o =
        new Outcome(
            1,
            Verdict.REJECT,
            ReasonCode.REJECTED,
            null,
            null,
            false,
            "",
            "eth" + EVIL,
            null,
            null,
            List.of(note, evil),
            null);
    Outcome ok =
        new Outcome(
            0,
            Verdict.ACCEPT,
            null,
            "10.0.0.1:80" + EVIL,
            EVIL,
            true,
            "forward",
            "",
            "",
            "",
            List.of(note),
            new Outcome.Reply(false, EVIL, "reason " + EVIL, ReasonCode.REPLY_NOT_ROUTED_BACK));
    return new TraceResult(
        new PacketSpec("10.0.0.1", 1, "10.96.0.1", 80, "tcp", "eth" + EVIL),
        List.of(o, ok),
        List.of("warning " + EVIL));
  }

  static Set<String> tags(String html) {
    Set<String> out = new TreeSet<>();
    Matcher m = Pattern.compile("<([!A-Za-z][A-Za-z0-9]*)").matcher(html);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  @Test
  void escape_markupAndControls_becomeEntities() {
    assertThat(Html.escape("<a href='x'>&\"\u0000\r"))
        .isEqualTo("&lt;a href=&#39;x&#39;&gt;&amp;&quot;\uFFFD\uFFFD");
    assertThat(Html.escape(null)).isEmpty();
  }

  @Test
  void page_hostileTextEverywhere_addsNoElementAndOneScript() {
    String html =
        TracePage.page(
            hostile(), RuleSources.bundle(Map.of("iptables-save.txt", "-A KUBE-" + EVIL + " x\n")));
    assertThat(tags(html)).isSubsetOf(TAGS);
    assertThat(html.split("<script", -1)).hasSize(2);
    assertThat(html).doesNotContain("<img").doesNotContain("<b ").contains("&lt;img src=x");
  }

  @Test
  void page_ownStyleAndScript_areTheOnlyOnesItsPolicyAllows() throws Exception {
    String html = TracePage.page(PathChartTest.twoBranches(), RuleSources.none());
    String style = between(html, "<style>", "</style>");
    String script = between(html, "<script>", "</script>");
    assertThat(html)
        .contains(
            "content=\"default-src 'none'; style-src '"
                + sha256(style)
                + "'; script-src '"
                + sha256(script)
                + "'; img-src data:\"");
  }

  @Test
  void page_anyTrace_loadsNothingFromTheNetwork() {
    String html = TracePage.page(PathChartTest.twoBranches(), RuleSources.none());
    // The SVG namespace is a name, not a fetch; nothing else may point off the page.
    assertThat(html.replace("xmlns=\"http://www.w3.org/2000/svg\"", ""))
        .doesNotContain("http:")
        .doesNotContain("https:")
        .doesNotContain("=\"//")
        .doesNotContain("href=\"/")
        .doesNotContain("src=")
        .doesNotContain("@import")
        .doesNotContain("url(h");
    assertThat(html).contains("<svg xmlns=\"http://www.w3.org/2000/svg\"");
  }

  @Test
  void page_droppedBranch_linksEveryBoxToItsStepAndNamesTheFailingStep() {
    String html = TracePage.page(PathChartTest.twoBranches(), RuleSources.none());
    assertThat(html)
        .contains(
            "Failing step: <a href=\"#o2s7\">outcome 2, filter FORWARD #1: DROP (DROPPED_BY_RULE)</a>")
        .contains("<tr id=\"o2s7\" data-box=\"b-o2s7\" class=\"failing\">")
        // a shared step: both outcomes' rows point at the one box that draws it
        .contains("<tr id=\"o2s1\" data-box=\"b-o1s1\">")
        .contains("<a href=\"#o1s1\" id=\"b-o1s1\" class=\"box shape-packet state-normal\">")
        .contains("class=\"box shape-rule state-failing\"");
  }

  private static String between(String s, String a, String b) {
    int i = s.indexOf(a) + a.length();
    return s.substring(i, s.indexOf(b, i));
  }

  private static String sha256(String s) throws Exception {
    return "sha256-"
        + Base64.getEncoder()
            .encodeToString(
                MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
  }
}
