package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.engine.Tracer;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Pasted rules with values the kernel would never have accepted reach the engine as the codec reads
 * them leniently: the evaluator reports the match it could not evaluate and why, assumes it does
 * not match, and the trace goes on to the next rule.
 */
class TracerBadValueTest {

  private static TraceResult traceForward(String filterRule) {
    String rules =
        """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        %s
        -A FORWARD -p tcp -m tcp --dport 80 -j REJECT
        COMMIT
        """
            .formatted(filterRule);
    return new Tracer(TraceNodes.withRules(rules, Map.of()))
        .trace(new PacketSpec("10.0.1.5", 40000, "10.0.2.7", 80, "tcp", "cni0"));
  }

  /**
   * Each bad rule would DROP the packet if it matched; assumed not to match, the packet goes on to
   * the next rule, which REJECTs it: the trace finished, past the bad rule.
   */
  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "-A FORWARD -p tcp -m tcp --dport abc -j DROP             | --dport abc    | not a port number",
        "-A FORWARD -p tcp -m tcp --sport 1:99999 -j DROP         | --sport 1:99999 | not a port number",
        "-A FORWARD -p tcp -m multiport --dports 80,x -j DROP     | --dports 80,x  | not a port number",
        "-A FORWARD -m mark --mark 0xZZ -j DROP                   | --mark 0xZZ    | not a number",
        "-A FORWARD -m connmark --mark 0x1/0xZZ -j DROP           | --mark 0x1/0xZZ | not a number",
        "-A FORWARD -s 10.0.0.0/33 -j DROP                        | -s 10.0.0.0/33 | 10.0.0.0/33",
        "-A FORWARD -d 10.0.2.300 -j DROP                         | -d 10.0.2.300  | 10.0.2.300",
        "-A FORWARD -m conntrack --ctstate NEWISH -j DROP         | --ctstate NEWISH | unknown conntrack state NEWISH",
        "-A FORWARD -m conntrack --ctstatus WEIRD -j DROP         | --ctstatus WEIRD | unknown conntrack status WEIRD",
        "-A FORWARD -m conntrack --ctorigdst 1.2.3.4/99 -j DROP   | --ctorigdst 1.2.3.4/99 | 1.2.3.4/99",
        "-A FORWARD -m set --match-set MISSING dst -j DROP        | --match-set MISSING dst | not in the bundle",
        "-A FORWARD -m statistic --mode random --probability abc -j DROP | --probability abc | not a probability",
        "-A FORWARD -m statistic --mode random --probability 1.5 -j DROP | --probability 1.5 | not between 0 and 1",
        "-A FORWARD -m statistic --mode nth --every 0 -j DROP     | --every 0      | not a positive count",
        "-A FORWARD -m statistic --mode sometimes -j DROP         | --mode sometimes | unknown statistic mode",
        "-A FORWARD -m addrtype --dst-type LOCALISH -j DROP       | --dst-type LOCALISH | unknown address type",
        "-A FORWARD -m iprange --dst-range 10.0.2.1-10.0.2.x -j DROP | --dst-range 10.0.2.1-10.0.2.x | not an IPv4 address",
        "-A FORWARD -m owner --uid-owner 0 -j DROP                | -m owner       | does not know this match"
      })
  void badValue_assumedNoMatch_reportedAndTraceGoesOn(String rule, String match, String reason) {
    TraceResult r = traceForward(rule);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.REJECT));
    assertThat(r.warnings())
        .anyMatch(
            w ->
                w.startsWith("could not evaluate ")
                    && w.contains(match)
                    && w.contains(reason)
                    && w.contains(", assumed it does not match"));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "-j DNAT --to-destination abc:80               | -j DNAT | not an IPv4 address",
        "-j DNAT --to-destination 10.0.2.8:http         | -j DNAT | not a port number",
        "-j DNAT                                        | -j DNAT | no --to-destination",
        "-j MARK --set-xmark 0xZZ/0xffffffff            | -j MARK | not a number",
        "-j REDIRECT --to-ports eighty                  | -j REDIRECT | not a port number"
      })
  void badTargetValue_packetContinuesUnchanged_reported(String target, String what, String reason) {
    String rules =
        """
        *nat
        :PREROUTING ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -m tcp --dport 80 %s
        COMMIT
        """
            .formatted(target);
    TraceResult r =
        new Tracer(TraceNodes.withRules(rules, Map.of()))
            .trace(new PacketSpec("10.0.1.5", 40000, "10.0.2.7", 80, "tcp", "cni0"));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.dnat()).isNull();
              assertThat(o.finalDestination()).isEqualTo("10.0.2.7:80");
            });
    assertThat(r.warnings())
        .anyMatch(w -> w.startsWith("could not apply " + what) && w.contains(reason));
  }

  @ParameterizedTest(name = "rp_filter = {0}")
  @CsvSource({"x", "'1 # strict'"})
  void badRpFilterSysctl_assumedOffAndReported(String value) {
    TraceResult r =
        new Tracer(TraceNodes.withRules("", Map.of("net.ipv4.conf.all.rp_filter", value)))
            .trace(new PacketSpec("10.0.2.9", 40000, "10.0.1.5", 80, "tcp", "cni0"));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT));
    assertThat(r.warnings()).anyMatch(w -> w.contains("rp_filter") && w.contains("not a number"));
  }
}
