package dev.svcproxy.ipvs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.ipvs.RealServer.ForwardMethod;
import dev.svcproxy.ipvs.VirtualServer.Kind;
import java.util.List;
import org.junit.jupiter.api.Test;

class IpvsadmCodecTest {

  // Printed by ipvsadm v1.31 (`ipvsadm -S -n`) on Debian's 6.1 kernel in the project's VM after
  // ipvsadm -A/-a commands with these options; thresholds (-x/-y) are not part of the save format.
  private static final String REAL_SAVE =
      """
      -A -t 10.96.0.10:80 -s rr
      -a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1
      -a -t 10.96.0.10:80 -r 10.244.2.5:8080 -m -w 0
      -A -u 10.96.0.53:53 -s sh -p 10800 -b sh-fallback,sh-port
      -a -u 10.96.0.53:53 -r 10.244.1.6:53 -m -w 3
      -A -f 7 -s lc
      -a -f 7 -r 10.244.1.9:0 -g -w 1
      -a -f 7 -r 10.244.1.10:0 -i -w 2 --tun-type ipip
      -A -t 192.168.0.1:30080 -s mh -b mh-fallback
      -A -u 10.96.0.8:9 -s wrr -p 60 -M 255.255.255.0 -o
      -A --sctp-service 10.96.0.9:9 -s rr
      """;

  @Test
  void parseSave_realIpvsadmOutput_readsEveryServiceAndRealServer() {
    IpvsadmCodec.Result r = IpvsadmCodec.parseSave(REAL_SAVE, "ipvsadm-save.txt");

    assertThat(r.warnings()).isEmpty();
    List<IpvsService> s = r.table().services();
    assertThat(s).hasSize(6);
    assertThat(s.get(0).server()).isEqualTo(VirtualServer.of(Kind.TCP, "10.96.0.10", 80, "rr"));
    assertThat(s.get(0).reals())
        .containsExactly(
            RealServer.masq("10.244.1.5", 8080, 1), RealServer.masq("10.244.2.5", 8080, 0));
    VirtualServer dns = s.get(1).server();
    assertThat(dns.kind()).isEqualTo(Kind.UDP);
    assertThat(dns.scheduler()).isEqualTo("sh");
    assertThat(dns.persistenceTimeout()).isEqualTo(10800);
    assertThat(dns.schedulerFlags()).containsExactly("sh-fallback", "sh-port");
    assertThat(s.get(1).reals()).containsExactly(RealServer.masq("10.244.1.6", 53, 3));
    VirtualServer fwm = s.get(2).server();
    assertThat(fwm.kind()).isEqualTo(Kind.FWMARK);
    assertThat(fwm.fwmark()).isEqualTo(7);
    assertThat(fwm.key()).isEqualTo("FWM 7");
    assertThat(s.get(2).reals())
        .extracting(RealServer::method)
        .containsExactly(ForwardMethod.ROUTE, ForwardMethod.TUNNEL);
    VirtualServer ops = s.get(4).server();
    assertThat(ops.persistenceNetmask()).isEqualTo("255.255.255.0");
    assertThat(ops.onePacket()).isTrue();
    assertThat(s.get(5).server().kind()).isEqualTo(Kind.SCTP);
  }

  @Test
  void printRestore_parsedSave_printsTheSameServices() {
    IpvsTable t = IpvsadmCodec.parseSaveStrict(REAL_SAVE, "x");

    IpvsTable again = IpvsadmCodec.parseSaveStrict(IpvsadmCodec.printRestore(t), "y");

    assertThat(again).isEqualTo(t);
  }

  @Test
  void argv_kubeProxyService_matchesIpvsadmSyntax() {
    VirtualServer vs = VirtualServer.of(Kind.TCP, "10.96.0.1", 443, "rr").withPersistence(10800);
    RealServer rs = RealServer.masq("192.168.1.10", 6443, 1);

    assertThat(IpvsadmCodec.addService(vs))
        .containsExactly("-A", "-t", "10.96.0.1:443", "-s", "rr", "-p", "10800");
    assertThat(IpvsadmCodec.deleteService(vs)).containsExactly("-D", "-t", "10.96.0.1:443");
    assertThat(IpvsadmCodec.addReal(vs, rs))
        .containsExactly("-a", "-t", "10.96.0.1:443", "-r", "192.168.1.10:6443", "-m", "-w", "1");
    assertThat(IpvsadmCodec.editReal(vs, rs.withWeight(0)))
        .containsExactly("-e", "-t", "10.96.0.1:443", "-r", "192.168.1.10:6443", "-m", "-w", "0");
    assertThat(IpvsadmCodec.deleteReal(vs, rs))
        .containsExactly("-d", "-t", "10.96.0.1:443", "-r", "192.168.1.10:6443");
  }

  @Test
  void parseSave_badLines_warnWithSourceAndLine() {
    IpvsadmCodec.Result r =
        IpvsadmCodec.parseSave(
            "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.2:80 -r 1.1.1.1:80 -m -w 1\n"
                + "-A -t web:80 -s rr\n-A -t 10.0.0.3:99999 -s rr\n-X\n",
            "dump.txt");

    assertThat(r.table().services()).hasSize(1);
    assertThat(r.warnings())
        .extracting(Object::toString)
        .containsExactly(
            "dump.txt:2: real server of virtual server TCP 10.0.0.2:80, which was never added",
            "dump.txt:3: \"web\" is not an IP address (save with -n)",
            "dump.txt:4: service port 99999 is outside 0..65535",
            "dump.txt:5: not an ipvsadm-save line (expected -A or -a): -X");
    assertThatThrownBy(() -> IpvsadmCodec.parseSaveStrict("-A -t 10.0.0.1:80\n", "f"))
        .hasMessage("f:1: -A without a scheduler (-s)");
  }
}
