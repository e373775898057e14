package dev.svcproxy.trace.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.TracerTestAccess;
import dev.svcproxy.trace.Verdict;
import dev.svcproxy.trace.bundle.BundleReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/**
 * A participant plugged in at an odd priority runs where the kernel would run a hook function of
 * that priority (include/uapi/linux/netfilter_ipv4.h: mangle -150, nat dst -100): at -120 in
 * PREROUTING after mangle and before nat, so it sees mangle's mark, and nat sees what it did.
 */
class HookParticipantTest {
  /** mangle marks 0x1; nat DNATs only a packet marked 0x2, which nothing in iptables sets. */
  private static final String RULES =
      """
      *mangle
      :PREROUTING ACCEPT [0:0]
      -A PREROUTING -d 10.96.0.1/32 -j MARK --set-xmark 0x1/0xffffffff
      COMMIT
      *nat
      :PREROUTING ACCEPT [0:0]
      -A PREROUTING -m mark --mark 0x2 -j DNAT --to-destination 10.0.2.7:80
      COMMIT
      """;

  private static NodeState node() {
    return BundleReader.fromFiles(
        Map.of(
            "ip-addr.json",
            TracerTestAccess.ADDR,
            "ip-route.json",
            TracerTestAccess.ROUTES,
            "sysctl.txt",
            "net.ipv4.ip_forward = 1\n",
            "iptables-save.txt",
            RULES));
  }

  /** A test participant: records the mark of each request it sees, then does {@code act}. */
  private record Fake(
      int priority, List<Long> seen, BiFunction<Branch, TraceRun, Boolean> act, List<Branch> drop)
      implements HookParticipant {
    @Override
    public Hook hook() {
      return Hook.PREROUTING;
    }

    @Override
    public String name() {
      return "fake";
    }

    @Override
    public List<Branch> run(List<Branch> in, TraceRun run, List<Branch> done) {
      List<Branch> out = new ArrayList<>();
      for (Branch b : in) {
        if (!b.replyDirection) {
          // The reply walk passes PREROUTING too; only the request's marks matter here.
          seen.add(b.mark);
        }
        if (act.apply(b, run)) {
          out.add(b);
        } else {
          b.step(
              Step.note(
                  StepKind.PARTICIPANT,
                  "PREROUTING",
                  "fake: dropped",
                  ReasonCode.DROPPED_BY_PARTICIPANT));
          run.end(b, Verdict.DROP, ReasonCode.DROPPED_BY_PARTICIPANT, done);
        }
      }
      return out;
    }
  }

  private static TraceResult trace(HookParticipant extra) {
    return new Tracer(node(), Tracer.DEFAULT_MAX_OUTCOMES, List.of(extra))
        .trace(new PacketSpec("10.0.1.5", 40000, "10.96.0.1", 80, "tcp", "cni0"));
  }

  @Test
  void participantAtMinus120_seesMangleMark_andNatSeesWhatItSet() {
    List<Long> seen = new ArrayList<>();
    TraceResult r =
        trace(
            new Fake(
                -120,
                seen,
                (b, run) -> {
                  b.mark = 0x2;
                  return true;
                },
                List.of()));

    assertThat(seen).containsExactly(0x1L);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.delivered()).isTrue();
              assertThat(o.dnat()).isEqualTo("10.0.2.7:80");
            });
  }

  @Test
  void participantAtMinus90_runsAfterNat_soNatDoesNotSeeItsMark() {
    List<Long> seen = new ArrayList<>();
    TraceResult r =
        trace(
            new Fake(
                -90,
                seen,
                (b, run) -> {
                  b.mark = 0x2;
                  return true;
                },
                List.of()));

    assertThat(seen).containsExactly(0x1L);
    assertThat(r.outcomes()).singleElement().extracting(Outcome::dnat).isNull();
  }

  @Test
  void participantAtMinus120_drops_natNeverSeesThePacket() {
    TraceResult r = trace(new Fake(-120, new ArrayList<>(), (b, run) -> false, List.of()));

    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.DROP);
              assertThat(o.reasonCode()).isEqualTo(ReasonCode.DROPPED_BY_PARTICIPANT);
              assertThat(o.dnat()).isNull();
              assertThat(o.steps()).noneMatch(s -> s.table().equals("nat"));
              assertThat(o.steps().get(o.steps().size() - 1).text()).isEqualTo("fake: dropped");
            });
  }

  @Test
  void walker_ordersPreroutingByPriority_fakeBetweenMangleAndNat() {
    List<HookParticipant> all = new ArrayList<>();
    all.add(new Fake(-120, new ArrayList<>(), (b, run) -> true, List.of()));
    all.addAll(Conntrack.participants());
    all.addAll(IptablesTable.participants(TableView.of(node().iptables())));

    assertThat(new HookWalker(all).at(Hook.PREROUTING))
        .extracting(p -> p.name() + "@" + p.priority())
        .containsExactly(
            "iptables raw@-300",
            "conntrack@-200",
            "iptables mangle@-150",
            "fake@-120",
            "iptables nat@-100");
    assertThat(new HookWalker(all).at(Hook.INPUT))
        .extracting(p -> p.name() + "@" + p.priority())
        .containsExactly(
            "iptables mangle@-150",
            "iptables filter@0",
            "iptables security@50",
            "iptables nat@100");
  }
}
