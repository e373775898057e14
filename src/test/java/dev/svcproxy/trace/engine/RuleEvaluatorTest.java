package dev.svcproxy.trace.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.bundle.BundleReader;
import java.util.ArrayList;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Rules evaluated on hand-built branches; expected values reasoned from the kernel's xt_* code. */
class RuleEvaluatorTest {
  private static final NodeState NODE = BundleReader.fromFiles(Map.of());

  private static RuleEvaluator.Verdict eval(String rule, Branch b) {
    RuleEvaluator e = new RuleEvaluator(NODE, new Routing(NODE, new ArrayList<>()));
    return e.evaluate(IptablesCodec.parseRule(rule), b);
  }

  /**
   * A client 10.0.1.5:40000 connects to 10.96.0.1:80, DNATed to 10.0.2.7:8080. nf_nat rewrites the
   * reply tuple on binding (nf_nat_setup_info: the inverse of the NATed tuple), so the reply tuple
   * is 10.0.2.7:8080 -> 10.0.1.5:40000 while the original stays 10.0.1.5:40000 -> 10.96.0.1:80.
   */
  private static Branch dnatted() {
    Branch b = new Branch("10.0.1.5", 40000, "10.96.0.1", 80, "tcp", "eth0");
    b.dst = "10.0.2.7";
    b.dport = 8080;
    b.dnatDone = true;
    return b;
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--ctreplsrc 10.0.2.7           | 1.0",
        "--ctreplsrc 10.96.0.1          | 0.0",
        "! --ctreplsrc 10.96.0.1        | 1.0",
        "--ctrepldst 10.0.1.5           | 1.0",
        "--ctrepldst 10.0.2.7           | 0.0",
        "--ctreplsrcport 8080           | 1.0",
        "--ctreplsrcport 80             | 0.0",
        "--ctrepldstport 40000          | 1.0",
        "--ctrepldstport 8080           | 0.0",
        "--ctorigsrcport 40000          | 1.0",
        "--ctorigsrcport 8080           | 0.0",
        "--ctorigdst 10.96.0.1          | 1.0",
        "--ctorigdst 10.0.2.7           | 0.0",
      })
  void evaluate_replyTupleOfADnattedConnection_asNfNatBindsIt(String test, double expected) {
    RuleEvaluator.Verdict v = eval("-A X -m conntrack " + test + " -j DROP", dnatted());
    assertThat(v.unknown()).isNull();
    assertThat(v.matchProbability()).as(test).isEqualTo(expected);
  }

  /** Expiry is not in a bundle's model of a branch: the tracer says it could not evaluate it. */
  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--ctexpire 10:20      | --ctexpire",
        "! --ctexpire 10:20    | --ctexpire",
      })
  void evaluate_unmodelledConntrackTest_unknownNamingTheTest(String test, String named) {
    RuleEvaluator.Verdict v = eval("-A X -m conntrack " + test + " -j DROP", dnatted());
    assertThat(v.unknown()).contains(named);
    assertThat(v.reason()).isNotBlank();
  }

  /** A reply carries its reply tuple; the client's address before SNAT is not on the branch. */
  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--ctreplsrc 10.0.2.7           | 1.0",
        "--ctreplsrcport 8080           | 1.0",
        "--ctrepldstport 8080           | 0.0",
      })
  void evaluate_replyDirection_replyTupleIsThePacketAsItArrived(String test, double expected) {
    Branch r = Conntrack.replyOf(dnatted());
    RuleEvaluator.Verdict v = eval("-A X -m conntrack " + test + " -j DROP", r);
    assertThat(v.unknown()).isNull();
    assertThat(v.matchProbability()).as(test).isEqualTo(expected);
  }
}
