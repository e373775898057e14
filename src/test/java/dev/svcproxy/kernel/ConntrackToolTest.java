package dev.svcproxy.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.model.Protocol;
import dev.svcproxy.netfilter.ConntrackCodec;
import org.junit.jupiter.api.Test;

/**
 * How the tool's answers are read. The exit statuses and messages are conntrack-tools 1.4.7's, as
 * run on this host: a delete that matched nothing exits 1 with "0 flow entries have been deleted."
 */
class ConntrackToolTest {
  static final ConntrackCodec.Entry SCTP_FLOW =
      ConntrackCodec.parseLine(
          "ipv4 2 sctp 132 3 ESTABLISHED src=10.244.0.3 dst=10.96.0.40 sport=5000 dport=3868"
              + " src=10.244.1.9 dst=10.244.0.3 sport=3868 dport=5000 [ASSURED] mark=0 use=1");

  static ConntrackTool answering(int exit, String stderr) {
    return new ConntrackTool(
        new RecordingCommandRunner(c -> new CommandResult(c.argv(), exit, "", stderr)));
  }

  @Test
  void delete_oneDeleted_returnsOne() {
    assertThat(
            answering(0, "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been deleted.\n")
                .delete(SCTP_FLOW))
        .isEqualTo(1);
  }

  @Test
  void delete_zeroFlowEntriesExitOne_returnsZeroWithoutError() {
    assertThat(
            answering(1, "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n")
                .delete(SCTP_FLOW))
        .isZero();
  }

  @Test
  void delete_otherFailure_throws() {
    assertThatThrownBy(
            () ->
                answering(1, "conntrack v1.4.7 (conntrack-tools): Operation not permitted\n")
                    .delete(SCTP_FLOW))
        .isInstanceOf(KernelException.class)
        .hasMessageContaining("Operation not permitted");
  }

  @Test
  void deleteArgv_sctpFlow_namesProtocolTupleAndReplySource() {
    assertThat(ConntrackTool.deleteArgv(SCTP_FLOW))
        .containsExactly(
            "conntrack",
            "-D",
            "-f",
            "ipv4",
            "-p",
            "sctp",
            "--orig-src",
            "10.244.0.3",
            "--orig-dst",
            "10.96.0.40",
            "--sport",
            "5000",
            "--dport",
            "3868",
            "--reply-src",
            "10.244.1.9",
            "--reply-port-src",
            "3868");
  }

  @Test
  void list_listingWithNoise_entriesAndWarnings() {
    String out =
        "ipv4     2 udp      17 28 src=10.244.0.3 dst=10.96.0.10 sport=40001 dport=53"
            + " src=10.244.1.5 dst=10.244.0.3 sport=53 dport=40001 mark=0 use=1\n"
            + "garbage line\n";
    RecordingCommandRunner runner =
        new RecordingCommandRunner(c -> new CommandResult(c.argv(), 0, out, ""));

    ConntrackTool.Listing l = new ConntrackTool(runner).list(Protocol.UDP);

    assertThat(runner.calls().get(0).line()).isEqualTo("conntrack -L -f ipv4 -p udp -o extended");
    assertThat(l.entries()).hasSize(1);
    assertThat(l.warnings()).hasSize(1);
  }
}
