package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.testutil.States;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RendererBehaviourTest {
  private static final IptablesRenderer RENDERER = OverallRulesTest.upstreamTestRenderer();

  private static String manyEndpoints(int services, int perService) {
    StringBuilder b = new StringBuilder();
    for (int s = 0; s < services; s++) {
      b.append("apiVersion: v1\nkind: Service\nmetadata: {namespace: ns, name: s")
          .append(s)
          .append("}\nspec: {clusterIP: 172.30.")
          .append(s / 250)
          .append('.')
          .append(s % 250 + 1)
          .append(", ports: [{name: p, port: 80}]}\n---\n");
      b.append(
              "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {namespace: ns, name: s")
          .append(s)
          .append("-1, labels: {kubernetes.io/service-name: s")
          .append(s)
          .append("}}\naddressType: IPv4\nports: [{name: p, port: 80}]\nendpoints:\n");
      for (int e = 0; e < perService; e++) {
        b.append("- addresses: [10.")
            .append(s / 250)
            .append('.')
            .append(s % 250)
            .append('.')
            .append(e + 1)
            .append("]\n");
      }
      b.append("---\n");
    }
    return b.toString();
  }

  @Test
  void render_moreThan1000Endpoints_dropsEndpointComments() {
    ProxyState state = States.fromYaml(manyEndpoints(101, 10));
    RenderResult r = RENDERER.render(state);
    assertThat(r.largeClusterMode()).isTrue();
    Table nat = r.restoreInput().table("nat").orElseThrow();
    assertThat(nat.rules())
        .filteredOn(x -> x.chain().startsWith("KUBE-SEP-") || x.target().startsWith("KUBE-SEP-"))
        .allSatisfy(x -> assertThat(x.comment()).isEmpty())
        .isNotEmpty();
    assertThat(nat.rules("KUBE-SERVICES")).allSatisfy(x -> assertThat(x.comment()).isPresent());
  }

  @Test
  void render_exactly1000Endpoints_keepsComments() {
    RenderResult r = RENDERER.render(States.fromYaml(manyEndpoints(100, 10)));
    assertThat(r.largeClusterMode()).isFalse();
    assertThat(r.restoreInput().table("nat").orElseThrow().rules())
        .filteredOn(x -> x.chain().startsWith("KUBE-SEP-"))
        .allSatisfy(x -> assertThat(x.comment()).isPresent());
  }

  @Test
  void render_partialSync_writesOnlyChangedServicesChainsButAllTopLevelRules() {
    ProxyState state = States.fromYaml(States.resource("/golden/overall/input.yaml"));
    RenderResult r = RENDERER.render(state, new RenderOptions(false, Set.of("ns1/svc1"), null));
    Table nat = r.restoreInput().table("nat").orElseThrow();
    assertThat(nat.chainDecls())
        .extracting(c -> c.name())
        .contains("KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SXIVWICOYRO3J4NJ")
        .doesNotContain("KUBE-SVC-X27LE4BHSL4DOUIK", "KUBE-EXT-X27LE4BHSL4DOUIK");
    assertThat(nat.rules("KUBE-SERVICES")).hasSize(10);
    assertThat(nat.rules("KUBE-NODEPORTS")).hasSize(6);
    // Skipped chains still count as active, so they are not deleted as stale.
    assertThat(r.activeNatChains()).contains("KUBE-SVC-X27LE4BHSL4DOUIK");
    assertThat(r.natRulesTotal()).isEqualTo(RENDERER.render(state).natRulesTotal());
  }

  @Test
  void render_staleServiceChains_flushedAndDeletedOthersLeftAlone() {
    ProxyState state = States.fromYaml(States.resource("/golden/overall/input.yaml"));
    Set<String> existing =
        Set.of(
            "KUBE-SVC-XPGD46QRK7WJZT7O",
            "KUBE-SVC-GONEGONEGONEGONE",
            "KUBE-SEP-OLDOLDOLDOLDOLD1",
            "DOCKER",
            "KUBE-MARK-DROP");
    RenderResult r = RENDERER.render(state, new RenderOptions(true, Set.of(), existing));
    String text = r.text();
    assertThat(text)
        .contains(":KUBE-SVC-GONEGONEGONEGONE - [0:0]\n")
        .contains("-X KUBE-SVC-GONEGONEGONEGONE\n");
    assertThat(text).contains("-X KUBE-SEP-OLDOLDOLDOLDOLD1\n");
    assertThat(text)
        .doesNotContain("-X KUBE-SVC-XPGD46QRK7WJZT7O")
        .doesNotContain("DOCKER")
        .doesNotContain("-X KUBE-MARK-DROP");
    assertThat(r.deletedChains()).isEqualTo(2);
    // The nodeports rule stays the last rule of KUBE-SERVICES.
    Rule last = r.restoreInput().table("nat").orElseThrow().rules("KUBE-SERVICES").getLast();
    assertThat(last.target()).isEqualTo("KUBE-NODEPORTS");
  }

  @Test
  void render_randomFullyAndNoNfacct_asProbed() {
    KernelCapabilities caps =
        OverallRulesTest.upstreamTestCapabilities().withNfacct(false, false).withRandomFully(true);
    String text = OverallRulesTestAccess.renderer(caps).render(ProxyState.empty()).text();
    assertThat(text).contains("-j MASQUERADE --random-fully\n").doesNotContain("nfacct");
    assertThat(text).contains("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n");
  }
}
