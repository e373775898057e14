package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Pasted text as web pages print it: rules behind an article's list numbers, code listings with a
 * line-number gutter, kubectl tables whose column spacing collapsed to single spaces. Expected
 * cells are read off the lines by hand (kubectl's column order is in each header).
 */
class PastedAsPostedFormsTest {
  @Test
  void unnumbered_listNumberBeforeARule_isLeftOut() {
    assertThat(PastedInput.unnumbered("1. -A PREROUTING -j KUBE-SERVICES"))
        .isEqualTo("-A PREROUTING -j KUBE-SERVICES");
    assertThat(PastedInput.unnumbered("12、-A KUBE-NODEPORTS -p tcp -j KUBE-XLB-X"))
        .isEqualTo("-A KUBE-NODEPORTS -p tcp -j KUBE-XLB-X");
  }

  @Test
  void unnumbered_listNumberBeforeProse_isKept() {
    // The article's own ordered list ("1. worker2 以外的主機...") is prose, not a rule.
    assertThat(PastedInput.unnumbered("  1. worker2 以外的主機對 worker2 發送的請求"))
        .isEqualTo("  1. worker2 以外的主機對 worker2 發送的請求");
    assertThat(PastedInput.unnumbered("3. the -A rules")).isEqualTo("3. the -A rules");
  }

  @Test
  void split_numberedRulesAfterAGutter_oneIptablesBlockCitingThePastedLines() {
    String text =
        "1\n2\n3\n# worker2\n\n1. -A PREROUTING -j KUBE-SERVICES\n\n2、-A KUBE-SERVICES -j X\n";
    PastedInput.Split s = PastedInput.split(List.of(new PastedInput.Source("p.txt", text)));
    assertThat(s.blocks()).hasSize(1);
    PastedInput.Block b = s.blocks().get(0);
    assertThat(b.kind()).isEqualTo(PastedInput.Kind.IPTABLES);
    assertThat(b.lines())
        .containsExactly("-A PREROUTING -j KUBE-SERVICES", "", "-A KUBE-SERVICES -j X");
    assertThat(b.numbers()).containsExactly(6, 7, 8);
    // The gutter lines are not reported as unread text; the comment line is.
    assertThat(s.unrecognised()).hasSize(1).allMatch(u -> u.startsWith("p.txt:4:"));
  }

  @Test
  void header_collapsedSpaces_kubectlsTwoWordColumnsKept() {
    assertThat(
            KubectlTable.header(
                "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESSGATES"))
        .containsExactly(
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES");
    assertThat(KubectlTable.header("NAME   READY   NOMINATED NODE   READINESS GATES"))
        .containsExactly("NAME", "READY", "NOMINATED NODE", "READINESS GATES");
  }

  @Test
  void byShape_nodeRowWithSpacedOsImage_singleWordColumnsRead() {
    List<String> h =
        KubectlTable.header(
            "NAME           STATUS   ROLES                  AGE    VERSION   INTERNAL-IP    "
                + "EXTERNAL-IP   OS-IMAGE            KERNEL-VERSION     CONTAINER-RUNTIME");
    List<String> cells =
        KubectlTable.byShape(
            h,
            List.of(
                ("node/worker2 Ready <none> 5d1h v1.21.0 172.20.20.16 <none> Ubuntu 20.04.2 LTS"
                        + " 5.4. 0-73-generic docker://20.10.2")
                    .split(" ")));
    assertThat(cells).isNotNull();
    assertThat(cells.get(h.indexOf("INTERNAL-IP"))).isEqualTo("172.20.20.16");
    assertThat(cells.get(h.indexOf("CONTAINER-RUNTIME"))).isEqualTo("docker://20.10.2");
    // OS-IMAGE and KERNEL-VERSION side by side cannot be told apart once spaces are lost.
    assertThat(cells.get(h.indexOf("OS-IMAGE"))).isNull();
  }

  @Test
  void byShape_wordsShiftedIntoTheWrongColumns_rejected() {
    // A pod row missing its RESTARTS word: AGE would get the IP, IP the node name.
    List<String> h = KubectlTable.header("NAME READY STATUS RESTARTS AGE IP NODE");
    assertThat(KubectlTable.byShape(h, List.of("p 1/1 Running 10.244.4.3 worker3".split(" "))))
        .isNull();
    assertThat(
            KubectlTable.byShape(h, List.of("p 1/1 Running 2 (3d ago) 5d 10.1.0.4 n1".split(" "))))
        .containsExactly("p", "1/1", "Running", "2 (3d ago)", "5d", "10.1.0.4", "n1");
    // An endpoints row with a word too many at its end: AGE would read "<none>", not an age.
    List<String> ep = KubectlTable.header("NAME ENDPOINTS AGE");
    assertThat(KubectlTable.byShape(ep, List.of("web 10.244.1.7:80 5d <none>".split(" "))))
        .isNull();
    assertThat(KubectlTable.byShape(ep, List.of("web 10.244.1.7:80 + 1 more... 5d".split(" "))))
        .containsExactly("web", "10.244.1.7:80 + 1 more...", "5d");
  }

  @Test
  void paste_collapsedSvcEpAndPodsTables_endpointsCarryTheirPodsNodes() {
    // Single-spaced `kubectl get svc,ep -o wide` and `kubectl get pods -o wide`: web's endpoint
    // 10.244.1.7 is the pod on node-b (its row), so the slice endpoint's nodeName is node-b.
    String text =
        """
        $ kubectl get svc,ep -o wide
        NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR
        service/web NodePort 10.96.5.5 <none> 80:30080/TCP 2d app=web

        NAME ENDPOINTS AGE
        endpoints/web 10.244.1.7:8080 2d

        $ kubectl get pods -o wide
        NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES
        web-7d9c 1/1 Running 0 2d 10.244.1.7 node-b <none> <none>
        """;
    DoctorInput in =
        DoctorInputs.paste(List.of(new PastedInput.Source("k.txt", text)), Optional.empty());
    assertThat(in.warnings()).noneMatch(w -> w.contains("skipped"));
    var state = in.cluster().orElseThrow();
    var web =
        state.services().keySet().stream()
            .filter(n -> n.toString().equals("default/web"))
            .findFirst()
            .orElseThrow();
    assertThat(state.endpointsOf(web))
        .singleElement()
        .satisfies(
            e -> {
              assertThat(e.ip()).isEqualTo("10.244.1.7");
              assertThat(e.port()).isEqualTo(8080);
              assertThat(e.nodeName()).isEqualTo("node-b");
            });
  }
}
