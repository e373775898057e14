package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.ipvs.IpvsConnection;
import dev.svcproxy.ipvs.IpvsConnectionCodec;
import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.ipvs.IpvsadmCodec;
import dev.svcproxy.ipvs.IpvsadmListing;
import dev.svcproxy.ipvs.RealServer;
import dev.svcproxy.ipvs.VirtualServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The readers of what ipvsadm 1.31 prints, on its real output (src/test/resources/trace/ipvs,
 * captured in the VM from one kernel state). The oracle: every listing of that state must describe
 * the same table that `ipvsadm -S -n` of the same state does (read by IpvsadmCodec).
 */
class IpvsListingsTest {
  static String fixture(String name) {
    try (InputStream in = IpvsListingsTest.class.getResourceAsStream("/trace/ipvs/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static IpvsTable saved() {
    return IpvsadmCodec.parseSaveStrict(fixture("ipvsadm-save.txt"), "ipvsadm-save.txt");
  }

  @Test
  void parse_plainListing_isTheTableOfTheSaveOfTheSameKernelState() {
    IpvsadmListing.Result r = IpvsadmListing.parse(fixture("ipvsadm-Ln.txt"), "ipvsadm-Ln.txt");
    assertThat(r.warnings()).isEmpty();
    assertThat(r.format()).isEqualTo(IpvsadmListing.Format.PLAIN);
    assertThat(r.complete()).isTrue();
    assertThat(r.table()).isEqualTo(saved());
    // What the listing says, read by hand: sh with its flag, persistence with a mask, fwmark 7.
    assertThat(r.table().byKey().get("TCP 10.96.0.13:80").server().schedulerFlags())
        .containsExactly("sh-port");
    VirtualServer fwm = r.table().byKey().get("FWM 7").server();
    assertThat(fwm.persistenceTimeout()).isEqualTo(30);
    assertThat(fwm.persistenceNetmask()).isEqualTo("255.255.255.0");
    assertThat(r.table().byKey().get("TCP 10.96.0.11:80").reals())
        .extracting(RealServer::weight)
        .containsExactly(3, 0);
    assertThat(r.table().byKey().get("TCP 10.96.0.14:80").reals()).isEmpty();
  }

  @Test
  void parse_persistentConnListing_isTheSameTable() {
    IpvsadmListing.Result r =
        IpvsadmListing.parse(fixture("ipvsadm-Ln-pconn.txt"), "ipvsadm-Ln-pconn.txt");
    assertThat(r.warnings()).isEmpty();
    assertThat(r.format()).isEqualTo(IpvsadmListing.Format.PERSISTENT_CONN);
    assertThat(r.table()).isEqualTo(saved());
  }

  @Test
  void parse_statsAndRateListings_haveTheAddressesButNoSchedulersOrWeights() {
    for (String f : List.of("ipvsadm-Ln-stats.txt", "ipvsadm-Ln-rate.txt")) {
      IpvsadmListing.Result r = IpvsadmListing.parse(fixture(f), f);
      assertThat(r.warnings()).isEmpty();
      assertThat(r.complete()).isFalse();
      assertThat(r.table().byKey().keySet()).isEqualTo(saved().byKey().keySet());
      saved()
          .byKey()
          .forEach(
              (k, s) ->
                  assertThat(r.table().byKey().get(k).reals())
                      .extracting(RealServer::target)
                      .isEqualTo(s.reals().stream().map(RealServer::target).toList()));
    }
  }

  @Test
  void isListing_tellsAListingFromSaveRules() {
    assertThat(IpvsadmListing.isListing(fixture("ipvsadm-Ln.txt"))).isTrue();
    assertThat(IpvsadmListing.isListing(fixture("ipvsadm-Ln-stats.txt"))).isTrue();
    assertThat(IpvsadmListing.isListing(fixture("ipvsadm-save.txt"))).isFalse();
  }

  @Test
  void parseStrict_badListingLine_namesFileAndLine() {
    String text =
        """
        IP Virtual Server version 1.2.1 (size=4096)
        Prot LocalAddress:Port Scheduler Flags
          -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
        TCP  10.96.0.10:80 rr
          -> 10.244.1.10:8080             Masq    one    0          2
        """;
    assertThatThrownBy(() -> IpvsadmListing.parseStrict(text, "pasted.txt"))
        .hasMessageStartingWith("pasted.txt:5: ")
        .hasMessageContaining("weight");
    assertThat(IpvsadmListing.parse(text, "pasted.txt").table().services()).hasSize(1);
  }

  @Test
  void parse_connectionTable_readsEveryEntryAndTheTemplate() {
    IpvsConnectionCodec.Result r =
        IpvsConnectionCodec.parse(fixture("ipvsadm-Lnc.txt"), "ipvsadm-Lnc.txt");
    assertThat(r.warnings()).isEmpty();
    assertThat(r.connections()).hasSize(11);
    // Line 3: "TCP 01:50  TIME_WAIT   10.0.0.2:42610     10.96.0.10:80      10.244.1.10:8080".
    assertThat(r.connections().get(0))
        .isEqualTo(
            new IpvsConnection(
                "TCP", 110, "TIME_WAIT", "10.0.0.2", 42610, "10.96.0.10", 80, "10.244.1.10", 8080));
    // The persistence template of -p 60 (kernel 6.1 shows it ASSURED, older kernels NONE).
    assertThat(r.connections())
        .filteredOn(IpvsConnection::template)
        .singleElement()
        .isEqualTo(
            new IpvsConnection(
                "TCP", 57, "ASSURED", "10.0.0.2", 0, "10.96.0.12", 80, "10.244.2.10", 8080));
    // The node's own connection: its source is the VIP (the local route's src).
    assertThat(r.connections()).anyMatch(c -> c.clientAddress().equals("10.96.0.10"));
  }

  @Test
  void parseStrict_badConnectionLine_namesFileAndLine() {
    String text =
        """
        IPVS connection entries
        pro expire state       source             virtual            destination
        TCP 01:50  TIME_WAIT   10.0.0.2:70000     10.96.0.10:80      10.244.1.10:8080
        """;
    assertThatThrownBy(() -> IpvsConnectionCodec.parseStrict(text, "ipvsadm-conns.txt"))
        .hasMessageStartingWith("ipvsadm-conns.txt:3: ")
        .hasMessageContaining("10.0.0.2:70000");
    assertThat(IpvsConnectionCodec.parse("garbage line\n", "x").warnings())
        .singleElement()
        .satisfies(w -> assertThat(w.toString()).startsWith("x:1: not an ipvsadm -Lnc entry"));
  }
}
