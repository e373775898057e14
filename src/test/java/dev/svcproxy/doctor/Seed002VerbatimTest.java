package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Seed 002 fed to {@code doctor --paste} exactly as its author posted it: the resource is the seed
 * file unchanged (the blog's code-listing gutters, its ordered-list numbers in front of the rules,
 * the kubectl tables whose column spacing the page collapsed to single spaces, the prose between).
 * The article shows two nodes; each paste is the article with the other node's section blanked
 * (blank lines keep every line number, so the evidence cites the seed's own lines).
 */
class Seed002VerbatimTest {
  private static final String NAME = "002_c7da28bbc28e608b.txt";

  private static List<String> seed() throws IOException {
    try (InputStream in = Seed002VerbatimTest.class.getResourceAsStream("/seeds/" + NAME)) {
      return List.of(new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n", -1));
    }
  }

  /** The seed with only the lines in {@code ranges} (1-based, inclusive pairs) kept. */
  private static String keep(int... ranges) throws IOException {
    List<String> lines = seed();
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < lines.size(); i++) {
      boolean kept = false;
      for (int r = 0; r < ranges.length; r += 2) {
        kept |= i + 1 >= ranges[r] && i + 1 <= ranges[r + 1];
      }
      b.append(kept ? lines.get(i) : "").append(i + 1 < lines.size() ? "\n" : "");
    }
    return b.toString();
  }

  private static DoctorReport paste(String text) {
    return Doctor.standard()
        .examine(DoctorInputs.paste(List.of(new PastedInput.Source(NAME, text)), Optional.empty()));
  }

  private static List<Finding> find(DoctorReport r, String id) {
    return r.findings().stream().filter(f -> f.id().equals(id)).toList();
  }

  /** Lines 1-146 and 184-256: everything but Case 2 (worker3's rules, lines 147-183). */
  private static String worker2() throws IOException {
    return keep(1, 146, 184, 256);
  }

  /** Lines 29-62 (the kubectl tables) and 147-183 (Case 2, worker3's rules). */
  private static String worker3() throws IOException {
    return keep(29, 62, 147, 183);
  }

  @Test
  void worker2_asPosted_etpLocalDropNamesWorker1AndWorker3AsHoldingTheEndpoints()
      throws IOException {
    // Hand reasoning from the seed's lines. Case 1 (lines 102-114, numbered "1." to "6."):
    // worker2's KUBE-NODEPORTS sends 30294/tcp to KUBE-XLB-L65...; XLB lets through only pod
    // sources (-s 10.244.0.0/16) and local sources, then jumps unconditionally to KUBE-MARK-DROP
    // (0x8000), and filter KUBE-FIREWALL (line 137) drops 0x8000: eTP=Local, no local endpoint.
    // Case 3 (lines 223-227, also worker2): KUBE-SVC-L65... balances over KUBE-SEP-HL43... (DNAT
    // 10.244.4.3:80) and KUBE-SEP-CUCT... (DNAT 10.244.5.4:80), both commented default/my-nginx.
    // The pods table (lines 60-62, spacing collapsed): 10.244.4.3 runs on worker3 (line 61),
    // 10.244.5.4 on worker1 (line 62). So the endpoints are on worker1 and worker3.
    DoctorReport r = paste(worker2());
    List<Finding> f = find(r, "etp-local-no-local-endpoints");
    assertThat(f).hasSize(1);
    String summary = f.get(0).summary();
    assertThat(summary)
        .contains("default/my-nginx")
        .contains("NodePort 30294/tcp")
        .contains("worker1 (10.244.5.4)")
        .contains("worker3 (10.244.4.3)")
        .doesNotContain("worker2");
    // The numbered rules are cited at the seed's lines, the list number left out of the rule.
    assertThat(f.get(0).evidence())
        .contains(
            new Evidence(
                NAME + ":112",
                "-A KUBE-XLB-L65ENXXZWWSAPRCR -m comment --comment \"default/my-nginx has no local"
                    + " endpoints\" -j KUBE-MARK-DROP"),
            new Evidence(
                NAME + ":137",
                "-A KUBE-FIREWALL -m comment --comment \"kubernetes firewall for dropping marked"
                    + " packets\" -m mark --mark 0x8000/0x8000 -j DROP"),
            new Evidence(
                NAME + ":226",
                "-A KUBE-SEP-HL43S2RPGOP5RW4C -p tcp -m comment --comment \"default/my-nginx\" -m"
                    + " tcp -j DNAT --to-destination 10.244.4.3:80"),
            new Evidence(
                NAME + ":61",
                "pod/my-nginx-5b56ccd65f-8rww7 1/1 Running 0 5d 10.244.4.3 worker3 <none> <none>"),
            new Evidence(
                NAME + ":62",
                "pod/my-nginx-5b56ccd65f-bxh9v 1/1 Running 0 5d 10.244.5.4 worker1 <none> <none>"));
    assertThat(find(r, "no-endpoints")).isEmpty();
    // The collapsed tables are read: no row of them is reported as skipped.
    assertThat(r.warnings()).noneMatch(w -> w.contains("row skipped"));
  }

  @Test
  void worker3_asPosted_noEtpLocalFinding() throws IOException {
    // Case 2 (lines 161-172, worker3): XLB's only rule ("Balancing rule 0", line 170) jumps to
    // KUBE-SEP-HL43... which DNATs to 10.244.4.3:80, the pod the table puts on worker3 (line 61):
    // external traffic to worker3:30294 reaches a local endpoint; nothing is dropped.
    DoctorReport r = paste(worker3());
    assertThat(find(r, "etp-local-no-local-endpoints")).isEmpty();
    assertThat(find(r, "no-endpoints")).isEmpty();
  }

  @Test
  void kubectlTablesAsPosted_servicesReadFromCollapsedRows() throws IOException {
    // Lines 56-58: `kubectl get svc` with single spaces; my-nginx is NodePort 80:30294/TCP,
    // ClusterIP 10.104.89.245, selector run=my-nginx.
    DoctorInput in =
        DoctorInputs.paste(List.of(new PastedInput.Source(NAME, keep(29, 62))), Optional.empty());
    assertThat(in.cluster()).isPresent();
    assertThat(in.cluster().get().services().values())
        .anySatisfy(
            s -> {
              assertThat(s.name().toString()).isEqualTo("default/my-nginx");
              assertThat(s.clusterIP()).isEqualTo("10.104.89.245");
              assertThat(s.port()).isEqualTo(80);
              assertThat(s.nodePort()).isEqualTo(30294);
            });
    assertThat(in.warnings()).noneMatch(w -> w.contains("row skipped"));
  }
}
