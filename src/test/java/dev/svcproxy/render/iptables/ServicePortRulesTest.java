package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.testutil.States;
import dev.svcproxy.testutil.UpstreamOrder;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A ruleset assembled from service ports rendered one by one equals the whole ruleset (the golden
 * files and upstream's expected text are the oracle), and a port re-rendered alone after a change
 * is exactly its part of the new whole.
 */
class ServicePortRulesTest {
  private static final List<String> FILTER_SHARED =
      List.of("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL");
  private static final List<String> NAT_SHARED = List.of("KUBE-SERVICES", "KUBE-NODEPORTS");

  /** Each port planned and rendered on its own, in service-port order. */
  private static List<ServicePortRules> onePortAtATime(IptablesRenderer r, ProxyState state) {
    boolean large = r.largeClusterMode(state);
    List<ServicePortRules> out = new ArrayList<>();
    for (ServicePortInfo svc : state.services().values()) {
      out.add(r.renderServicePort(r.planner().plan(svc, state.endpointsOf(svc.name())), large));
    }
    return out;
  }

  static List<String> cases() throws IOException {
    return GoldenCasesTest.cases().toList();
  }

  @ParameterizedTest
  @MethodSource("cases")
  void assemble_portsRenderedOneByOne_equalsGoldenFile(String name) throws IOException {
    IptablesRenderer r = GoldenCasesTest.renderer(name);
    ProxyState state = GoldenCasesTest.state(name);
    String text =
        r.assemble(onePortAtATime(r, state), r.largeClusterMode(state), RenderOptions.full())
            .text();
    assertThat(text).isEqualTo(GoldenCasesTest.expected(name));
  }

  @Test
  void assemble_upstreamOverallPortsOneByOne_equalsUpstreamExpectedText() {
    IptablesRenderer r = OverallRulesTest.upstreamTestRenderer();
    ProxyState state = States.fromYaml(States.resource("/golden/overall/input.yaml"));
    String text = r.assemble(onePortAtATime(r, state), false, RenderOptions.full()).text();
    assertThat(UpstreamOrder.sort(text))
        .isEqualTo(UpstreamOrder.sort(States.resource("/golden/overall/expected.txt")));
  }

  @Test
  void renderServicePort_oneChangedPortAlone_isExactlyItsPartOfTheNewFullRender() {
    IptablesRenderer r = OverallRulesTest.upstreamTestRenderer();
    ProxyState before = States.fromYaml(States.resource("/golden/overall/input.yaml"));
    List<ServicePortRules> cached = onePortAtATime(r, before);
    // ns2/svc2 (LB, eTP=Local) has no endpoint on test-node: its external traffic is dropped in
    // filter. Give it a local endpoint: the drops go, a KUBE-SVL chain and its SEP come.
    ServicePortName svc2 =
        before.services().keySet().stream()
            .filter(n -> n.namespacedName().equals("ns2/svc2"))
            .findFirst()
            .orElseThrow();
    Map<ServicePortName, List<Endpoint>> eps = new HashMap<>(before.endpoints());
    List<Endpoint> more = new ArrayList<>(before.endpointsOf(svc2));
    more.add(Endpoint.ready("10.180.0.99", 80, "test-node"));
    eps.put(svc2, more);
    ProxyState after = new ProxyState(new TreeMap<>(before.services()), eps);

    ServicePortRules changed =
        r.renderServicePort(r.planner().plan(after.services().get(svc2), more), false);
    int at = new ArrayList<>(before.services().keySet()).indexOf(svc2);
    assertThat(changed).isNotEqualTo(cached.get(at));

    RenderResult full = r.render(after);
    // The unchanged ports' earlier results with the one port re-rendered: the whole new ruleset.
    List<ServicePortRules> mixed = new ArrayList<>(cached);
    mixed.set(at, changed);
    assertThat(r.assemble(mixed, false, RenderOptions.full()).text()).isEqualTo(full.text());

    // Its own chains hold exactly what the full render puts in them.
    Table nat = full.restoreInput().table("nat").orElseThrow();
    Table filter = full.restoreInput().table("filter").orElseThrow();
    assertThat(changed.chains()).anyMatch(c -> c.startsWith("KUBE-SVL-"));
    for (String c : changed.chains()) {
      assertThat(changed.rulesIn("nat", c)).as(c).isEqualTo(nat.rules(c));
    }
    // Its shared-chain rules are the full render's rules of that chain that name the port.
    String port = svc2.toString();
    for (String c : NAT_SHARED) {
      assertThat(changed.rulesIn("nat", c)).as("nat " + c).isEqualTo(naming(nat.rules(c), port));
    }
    for (String c : FILTER_SHARED) {
      assertThat(changed.rulesIn("filter", c))
          .as("filter " + c)
          .isEqualTo(naming(filter.rules(c), port));
    }
    assertThat(changed.rulesIn("filter", "KUBE-EXTERNAL-SERVICES")).isEmpty();
    assertThat(cached.get(at).rulesIn("filter", "KUBE-EXTERNAL-SERVICES")).isNotEmpty();
  }

  /** The rules whose comment is the port's name or starts with it and a space. */
  private static List<Rule> naming(List<Rule> rules, String port) {
    return rules.stream()
        .filter(r -> r.comment().map(c -> c.equals(port) || c.startsWith(port + " ")).orElse(false))
        .toList();
  }
}
