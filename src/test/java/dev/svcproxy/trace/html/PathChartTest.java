package dev.svcproxy.trace.html;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.Verdict;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The chart's layout on hand-built traces, the expected boxes worked out by hand. */
class PathChartTest {
  static final PacketSpec PACKET =
      new PacketSpec("10.0.0.1", 40000, "10.96.0.1", 80, "tcp", "eth0");
  static final Step ARRIVES =
      Step.note(StepKind.PACKET, "PREROUTING", "packet 10.0.0.1:40000 -> 10.96.0.1:80 tcp");
  static final Step SERVICES =
      new Step(
          StepKind.JUMP,
          "PREROUTING",
          "nat",
          "KUBE-SERVICES",
          1,
          "-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X",
          "jump KUBE-SVC-X");
  static final String FIRST =
      "-A KUBE-SVC-X -m statistic --mode random --probability 0.25000000000 -j KUBE-SEP-A";
  static final Step TAKE_A =
      new Step(StepKind.JUMP, "PREROUTING", "nat", "KUBE-SVC-X", 1, FIRST, "jump KUBE-SEP-A");
  static final Step SKIP_A =
      new Step(StepKind.BRANCH_NOT_TAKEN, "PREROUTING", "nat", "KUBE-SVC-X", 1, FIRST, "not taken");
  static final Step TAKE_B =
      new Step(
          StepKind.JUMP,
          "PREROUTING",
          "nat",
          "KUBE-SVC-X",
          2,
          "-A KUBE-SVC-X -j KUBE-SEP-B",
          "jump KUBE-SEP-B");
  static final Step DNAT_A = dnat("A", "10.1.0.1");
  static final Step DNAT_B = dnat("B", "10.1.0.2");
  static final Step ROUTE_A = Step.note(StepKind.ROUTE, "routing", "route to 10.1.0.1: dev cni0");
  static final Step ROUTE_B = Step.note(StepKind.ROUTE, "routing", "route to 10.1.0.2: dev cni0");
  static final Step OUT_A =
      Step.note(StepKind.DELIVERY, "POSTROUTING", "forwarded out cni0 as 10.0.0.1 -> 10.1.0.1");
  static final Step DROP_B =
      new Step(
          StepKind.TARGET,
          "FORWARD",
          "filter",
          "FORWARD",
          1,
          "-A FORWARD -d 10.1.0.2/32 -j DROP",
          "DROP",
          ReasonCode.DROPPED_BY_RULE);

  static Step dnat(String sep, String ip) {
    return new Step(
        StepKind.TARGET,
        "PREROUTING",
        "nat",
        "KUBE-SEP-" + sep,
        1,
        "-A KUBE-SEP-" + sep + " -p tcp -m tcp -j DNAT --to-destination " + ip + ":80",
        "DNAT to " + ip + ":80");
  }

  static Outcome delivered(double p, List<Step> steps, Outcome.Reply reply) {
    return new Outcome(
        p,
        Verdict.ACCEPT,
        null,
        "10.1.0.1:80",
        null,
        false,
        "forward",
        "cni0",
        "10.0.0.1",
        "10.1.0.1",
        steps,
        reply);
  }

  static Outcome dropped(double p, List<Step> steps) {
    return new Outcome(
        p,
        Verdict.DROP,
        ReasonCode.DROPPED_BY_RULE,
        "10.1.0.2:80",
        null,
        false,
        "",
        "",
        "10.0.0.1",
        "10.1.0.2",
        steps,
        null);
  }

  static final Outcome.Reply BACK =
      new Outcome.Reply(true, "10.96.0.1:80", "the backend answers through this node", null);

  /** A quarter to endpoint A (delivered), three quarters to B (dropped by a FORWARD rule). */
  static TraceResult twoBranches() {
    return new TraceResult(
        PACKET,
        List.of(
            delivered(0.25, List.of(ARRIVES, SERVICES, TAKE_A, DNAT_A, ROUTE_A, OUT_A), BACK),
            dropped(0.75, List.of(ARRIVES, SERVICES, SKIP_A, TAKE_B, DNAT_B, ROUTE_B, DROP_B))),
        List.of());
  }

  static Map<String, PathChart.Box> byId(PathChart c) {
    return c.boxes().stream().collect(Collectors.toMap(PathChart.Box::id, Function.identity()));
  }

  @Test
  void of_twoOutcomesSharingAPrefix_drawsTheSharedStepsOnceAndSplitsWithProbabilities() {
    PathChart c = PathChart.of(twoBranches(), 24);
    Map<String, String> boxOf = c.boxOf();
    assertThat(boxOf.get("o1s1")).isEqualTo(boxOf.get("o2s1")).isNotNull();
    assertThat(boxOf.get("o1s2")).isEqualTo(boxOf.get("o2s2")).isNotNull();
    assertThat(boxOf.get("o1s3")).isNotEqualTo(boxOf.get("o2s3"));
    // 2 shared; A: 4 steps, the reply, the verdict; B: 5 steps, the verdict.
    assertThat(c.boxes()).hasSize(14);
    assertThat(c.edges().stream().map(PathChart.Edge::label).filter(l -> !l.isEmpty()))
        .containsExactly("p 0.2500 (25.0%)", "p 0.7500 (75.0%)");
    assertThat(c.drawn()).isEqualTo(2);
  }

  @Test
  void of_droppedOutcome_onlyTheDroppingStepIsFailing() {
    PathChart c = PathChart.of(twoBranches(), 24);
    Map<String, PathChart.Box> boxes = byId(c);
    assertThat(c.boxes().stream().filter(b -> b.state() == PathChart.State.FAILING))
        .extracting(PathChart.Box::id)
        .containsExactly(c.boxOf().get("o2s7"));
    assertThat(boxes.get("b-o1").state()).isEqualTo(PathChart.State.DELIVERED);
    assertThat(boxes.get("b-o2").state()).isEqualTo(PathChart.State.LOST);
    assertThat(boxes.get(c.boxOf().get("o1s4")).shape()).isEqualTo(PathChart.Shape.NAT);
    assertThat(boxes.get(c.boxOf().get("o1s5")).shape()).isEqualTo(PathChart.Shape.ROUTE);
    assertThat(boxes.get(c.boxOf().get("o2s3")).shape()).isEqualTo(PathChart.Shape.PASS);
    assertThat(boxes.get(c.boxOf().get("o1s2")).shape()).isEqualTo(PathChart.Shape.RULE);
    assertThat(boxes.get(c.boxOf().get("o1r0")).shape()).isEqualTo(PathChart.Shape.REPLY);
  }

  @Test
  void of_anyTrace_boxesDoNotOverlap() {
    PathChart c = PathChart.of(twoBranches(), 24);
    List<PathChart.Box> b = c.boxes();
    for (int i = 0; i < b.size(); i++) {
      PathChart.Box p = b.get(i);
      assertThat(p.x() + p.w()).isLessThanOrEqualTo(c.width());
      assertThat(p.y() + p.h()).isLessThanOrEqualTo(c.height());
      for (int j = i + 1; j < b.size(); j++) {
        PathChart.Box q = b.get(j);
        boolean apart =
            p.x() + p.w() <= q.x()
                || q.x() + q.w() <= p.x()
                || p.y() + p.h() <= q.y()
                || q.y() + q.h() <= p.y();
        assertThat(apart).as(p.id() + " and " + q.id()).isTrue();
      }
    }
  }

  @Test
  void of_replyNotRoutedBack_theReplyIsFailing() {
    Outcome.Reply lost =
        new Outcome.Reply(
            false, "10.96.0.1:80", "left with a VIP as source", ReasonCode.REPLY_NOT_ROUTED_BACK);
    Outcome o = delivered(1, List.of(ARRIVES, SERVICES, TAKE_A, DNAT_A, ROUTE_A, OUT_A), lost);
    PathChart c = PathChart.of(new TraceResult(PACKET, List.of(o), List.of()), 24);
    assertThat(c.boxes().stream().filter(b -> b.state() == PathChart.State.FAILING))
        .extracting(PathChart.Box::id)
        .containsExactly("b-o1r0");
    assertThat(byId(c).get("b-o1").state()).isEqualTo(PathChart.State.LOST);
  }

  @Test
  void of_replyDroppedOnItsWayBack_theDroppingReplyStepIsFailing() {
    Step back = Step.note(StepKind.PACKET, "PREROUTING", "reply arrives on cni0");
    Step refuse =
        new Step(
            StepKind.TARGET,
            "FORWARD",
            "filter",
            "FORWARD",
            3,
            "-A FORWARD -s 10.1.0.1/32 -j DROP",
            "DROP",
            ReasonCode.DROPPED_BY_RULE);
    Outcome.Reply dropped =
        new Outcome.Reply(
            false,
            "10.96.0.1:80",
            "dropped on its way back",
            ReasonCode.REPLY_DROPPED,
            Verdict.DROP,
            List.of(back, refuse));
    Outcome o = delivered(1, List.of(ARRIVES, SERVICES, TAKE_A, DNAT_A, ROUTE_A, OUT_A), dropped);
    PathChart c = PathChart.of(new TraceResult(PACKET, List.of(o), List.of()), 24);
    assertThat(PathChart.failingReplyStep(o)).isEqualTo(2);
    assertThat(c.boxes().stream().filter(b -> b.state() == PathChart.State.FAILING))
        .extracting(PathChart.Box::id)
        .containsExactly("b-o1r2");
  }

  @Test
  void of_branchesNotFollowed_markedUnknownNotFailing() {
    Outcome o =
        new Outcome(
            0.5,
            Verdict.UNKNOWN,
            ReasonCode.BRANCHES_NOT_FOLLOWED,
            null,
            null,
            false,
            "",
            "",
            "10.0.0.1",
            "10.96.0.1",
            List.of(ARRIVES, SERVICES, SKIP_A),
            null);
    PathChart c = PathChart.of(new TraceResult(PACKET, List.of(o), List.of()), 24);
    assertThat(c.boxes()).noneMatch(b -> b.state() == PathChart.State.FAILING);
    assertThat(byId(c).get("b-o1s3").state()).isEqualTo(PathChart.State.UNKNOWN);
  }

  @Test
  void of_moreOutcomesThanTheLimit_drawsTheLostOnesFirstThenTheMostProbable() {
    List<Outcome> many = new ArrayList<>();
    for (int i = 0; i < 29; i++) {
      Step take =
          new Step(
              StepKind.JUMP,
              "PREROUTING",
              "nat",
              "KUBE-SVC-X",
              i + 1,
              "-A KUBE-SVC-X -j KUBE-SEP-" + i,
              "jump KUBE-SEP-" + i);
      many.add(delivered(i < 5 ? 0.001 : 0.03, List.of(ARRIVES, SERVICES, take, OUT_A), BACK));
    }
    many.add(dropped(0.001, List.of(ARRIVES, SERVICES, DROP_B)));
    PathChart c = PathChart.of(new TraceResult(PACKET, many, List.of()), 24);
    assertThat(c.drawn()).isEqualTo(24);
    assertThat(c.boxOf()).containsKey("o30"); // the lost one
    for (int i = 1; i <= 5; i++) {
      assertThat(c.boxOf()).doesNotContainKey("o" + i); // the least probable delivered ones
    }
  }

  @Test
  void wrap_longText_fitsTheBoxInAtMostTheGivenLines() {
    String s =
        "route to 192.168.77.11: local 192.168.77.11/32 dev eth0 table local src 192.168.77.11";
    List<String> lines = PathChart.wrap(s, 2);
    assertThat(lines).hasSize(2);
    assertThat(lines).allMatch(l -> l.length() <= PathChart.LINE_CHARS);
    assertThat(lines.get(0)).isEqualTo("route to 192.168.77.11: local");
    assertThat(lines.get(1)).endsWith("\u2026");
  }
}
