package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * A packet of the node's own ({@code --dst} without {@code --src}) on a paste that shows none of
 * the node's addresses: its source cannot be chosen, so where its reply goes is unknown. The doctor
 * said "packet-not-delivered: the reply ... does not come back (reply-dropped) at routing" ("route
 * to : no route"), blaming the node for what the input leaves out (audit of 2026-11-27, the
 * weave#3568 paste with --dst alone).
 */
class UnknownNodeSourceTest {
  private static String fixture(String name) {
    try (InputStream in = UnknownNodeSourceTest.class.getResourceAsStream("/paste-audit/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static DoctorReport examine(PacketSpec p) {
    // kubernetes/website#2499: two nat chains listed with -n -v; no addresses, no routes.
    DoctorInput in =
        DoctorInputs.paste(
            List.of(new PastedInput.Source("p15.txt", fixture("p15-website-2499-chains.txt"))),
            Optional.empty());
    return Doctor.standard().examine(in.withPacket(p));
  }

  @Test
  void nodeOwnPacket_noAddressKnown_replyNotTracedNotBlamed() {
    DoctorReport r = examine(new PacketSpec(null, 0, "10.108.2.154", 80, "tcp", ""));
    assertThat(r.findings()).extracting(Finding::id).doesNotContain("packet-not-delivered");
    assertThat(r.trace().outcomes()).isNotEmpty();
    for (Outcome o : r.trace().outcomes()) {
      // Nothing in the paste drops it on the way out (no filter rules, an assumed uplink).
      assertThat(o.delivered()).isTrue();
      assertThat(o.reply().reasonCode()).isNull();
      assertThat(o.reply().reason()).startsWith("not traced").contains("give --src");
    }
    assertThat(r.trace().warnings()).anyMatch(w -> w.contains("no address of this node is known"));
  }

  @Test
  void givenSource_replyTraced() {
    // With --src the node's address is the user's word: the reply is analysed as usual (the
    // client 192.168.1.5 is not an address of this node, so the packet is forwarded through).
    DoctorReport r = examine(new PacketSpec("192.168.1.5", 40000, "10.108.2.154", 80, "tcp", ""));
    assertThat(r.findings()).extracting(Finding::id).doesNotContain("packet-not-delivered");
    for (Outcome o : r.trace().outcomes()) {
      assertThat(o.reply().reason()).doesNotStartWith("not traced");
    }
  }
}
