package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.Verdict;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DoctorHtmlTest {
  static final String REJECT =
      "-A KUBE-SERVICES -d 10.96.0.12/32 -p tcp -m comment --comment \"default/empty:http has no"
          + " endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable";
  static final String SAVE =
      "*filter\n:OUTPUT ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n-A OUTPUT -j KUBE-SERVICES\n"
          + REJECT
          + "\nCOMMIT\n";

  static TraceResult rejected() {
    Step created = Step.note(StepKind.PACKET, "OUTPUT", "packet created on this node");
    Step jump =
        new Step(
            StepKind.JUMP,
            "OUTPUT",
            "filter",
            "OUTPUT",
            1,
            "-A OUTPUT -j KUBE-SERVICES",
            "jump KUBE-SERVICES");
    Step reject =
        new Step(
            StepKind.TARGET,
            "OUTPUT",
            "filter",
            "KUBE-SERVICES",
            1,
            REJECT,
            "REJECT",
            ReasonCode.NO_ENDPOINTS);
    Outcome o =
        new Outcome(
            1,
            Verdict.REJECT,
            ReasonCode.NO_ENDPOINTS,
            null,
            null,
            false,
            "",
            "eth0",
            null,
            null,
            List.of(created, jump, reject),
            null);
    return new TraceResult(
        new PacketSpec(null, 40000, "10.96.0.12", 80, "tcp", null), List.of(o), List.of());
  }

  static Finding noEndpoints(Evidence e) {
    return new Finding(
        "no-endpoints",
        Severity.ERROR,
        "default/empty has no ready endpoints <i>",
        List.of(e),
        "why <script>",
        "fix & more",
        List.of("seed 004"));
  }

  @Test
  void page_findingCitesTheRejectingRule_linksFindingAndStepBothWays() {
    BundleFiles files = BundleFiles.bundle(Map.of("iptables-save.txt", SAVE));
    Finding f = noEndpoints(files.at("iptables-save.txt", 5, REJECT));
    DoctorReport r =
        new DoctorReport(
            List.of(f), rejected(), List.of(), List.of(), DoctorReport.Confidence.HIGH);
    String html = DoctorHtml.page(r, files);
    assertThat(html)
        .contains("<article class=\"finding sev-error\" id=\"f1\">")
        .contains("<span class=\"where\">iptables-save.txt:5</span>")
        .contains("<a class=\"cite\" href=\"#o1s3\">step o1s3</a>")
        .contains("<a class=\"cite\" href=\"#f1\">evidence of no-endpoints</a>")
        .contains("class=\"box shape-rule state-failing cited\"")
        .contains("1 finding (1 error); confidence: high")
        .contains("default/empty has no ready endpoints &lt;i&gt;")
        .contains("why &lt;script&gt;")
        .doesNotContain("<i>");
    // The jump before it is not what the finding is about.
    assertThat(html).contains("<tr id=\"o1s2\" data-box=\"b-o1s2\">");
  }

  @Test
  void page_evidenceNamingTheSameLineLive_citesTheStep() {
    BundleFiles live = BundleFiles.live(Map.of("iptables-save.txt", SAVE));
    Finding f = noEndpoints(live.at("iptables-save.txt", 5, "(the rule, shortened)"));
    DoctorReport r =
        new DoctorReport(
            List.of(f), rejected(), List.of(), List.of(), DoctorReport.Confidence.HIGH);
    assertThat(DoctorHtml.page(r, live))
        .contains("$ iptables-save (line 5)")
        .contains("<a class=\"cite\" href=\"#o1s3\">step o1s3</a>");
  }

  @Test
  void page_evidenceQuotingTheRuleElsewhere_citesTheStep() {
    // A finding may quote the rule from another source (a command's output): the rule is the same.
    Finding f = noEndpoints(Evidence.command("iptables -t filter -S KUBE-SERVICES", REJECT));
    DoctorReport r =
        new DoctorReport(
            List.of(f), rejected(), List.of(), List.of(), DoctorReport.Confidence.HIGH);
    assertThat(DoctorHtml.page(r, BundleFiles.bundle(Map.of())))
        .contains("<a class=\"cite\" href=\"#o1s3\">step o1s3</a>")
        .contains("<a class=\"cite\" href=\"#f1\">evidence of no-endpoints</a>");
  }

  @Test
  void page_noPacket_saysHowToDrawThePath() {
    DoctorReport r =
        new DoctorReport(
            List.of(),
            null,
            List.of("warn <x>"),
            List.of("assumed <y>"),
            DoctorReport.Confidence.MEDIUM);
    assertThat(DoctorHtml.page(r, BundleFiles.bundle(Map.of())))
        .contains("No findings.")
        .contains("give --dst (and --src) to draw its path")
        .contains("warn &lt;x&gt;")
        .contains("assumed &lt;y&gt;")
        .contains("no findings; confidence: medium")
        .doesNotContain("<svg");
  }
}
