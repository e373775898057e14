package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.bundle.BundleReader;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Audit 12 #8: a set member the tracer cannot use is warned about at its own line of ipset-save.txt
 * (it was cited as line 0), in `ipset save` and in `ipset list` form.
 */
class IpsetWarningLinesTest {
  @Test
  void saveForm_eachBadMemberAtItsLine_repeatsInOrder() {
    // Line 1 creates a hash:ip,port set; line 2 is a good member; 10.20.0.7 (no port) is on
    // lines 3 and 5, the port 99999 on line 4.
    NodeState n =
        BundleReader.fromFiles(
            Map.of(
                "ipset-save.txt",
                """
                create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
                add KUBE-CLUSTER-IP 10.20.0.1,tcp:443
                add KUBE-CLUSTER-IP 10.20.0.7
                add KUBE-CLUSTER-IP 10.20.0.8,tcp:99999
                add KUBE-CLUSTER-IP 10.20.0.7
                """));
    assertThat(n.warnings())
        .filteredOn(w -> w.contains("the tracer skips it"))
        .extracting(w -> w.substring(0, w.indexOf(": set ")))
        .containsExactly("ipset-save.txt:3", "ipset-save.txt:4", "ipset-save.txt:5");
  }

  @Test
  void listForm_badMemberAtItsLine() {
    // `ipset list`: the header lines 1-7, "Members:" line 8, the members on lines 9 and 10.
    NodeState n =
        BundleReader.fromFiles(
            Map.of(
                "ipset-save.txt",
                """
                Name: KUBE-CLUSTER-IP
                Type: hash:ip,port
                Revision: 5
                Header: family inet hashsize 1024 maxelem 65536
                Size in memory: 200
                References: 2
                Number of entries: 2
                Members:
                10.20.0.1,tcp:443
                10.20.0.9
                """));
    assertThat(n.warnings())
        .filteredOn(w -> w.contains("the tracer skips it"))
        .singleElement()
        .satisfies(w -> assertThat(w).startsWith("ipset-save.txt:10: set KUBE-CLUSTER-IP: "));
  }
}
