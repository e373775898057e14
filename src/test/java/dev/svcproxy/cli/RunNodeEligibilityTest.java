package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.source.NodeInfo;
import dev.svcproxy.source.api.Feed;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * /healthz's view of the Node as run wires it: from the API source's Node (upstream's
 * pkg/proxy/healthcheck nodeEligible: unknown, deleting or tainted ToBeDeletedByClusterAutoscaler
 * is ineligible), always eligible with manifests, which have no Node object.
 */
class RunNodeEligibilityTest {
  private static Feed apiFeed(AtomicReference<NodeInfo> node) {
    return new Feed() {
      @Override
      public void start(Consumer<ProxyState> sink) {}

      @Override
      public void close() {}

      @Override
      public boolean watchesNode() {
        return true;
      }

      @Override
      public Optional<NodeInfo> node() {
        return Optional.ofNullable(node.get());
      }
    };
  }

  private static NodeInfo node(boolean deleting, boolean toBeDeleted) {
    return new NodeInfo("n1", List.of("192.168.0.2"), List.of(), "", deleting, toBeDeleted);
  }

  @Test
  void nodeFacts_apiSource_followTheNode() {
    AtomicReference<NodeInfo> n = new AtomicReference<>();
    var facts = RunCommand.nodeFacts(apiFeed(n));
    // Not seen yet: upstream answers 503 until the Node is known.
    assertThat(facts.get()).isEmpty();
    n.set(node(false, false));
    assertThat(facts.get()).hasValueSatisfying(f -> assertThat(f.eligible()).isTrue());
    n.set(node(false, true));
    assertThat(facts.get()).hasValueSatisfying(f -> assertThat(f.eligible()).isFalse());
    n.set(node(true, false));
    assertThat(facts.get()).hasValueSatisfying(f -> assertThat(f.eligible()).isFalse());
  }

  @Test
  void nodeFacts_manifests_alwaysEligible() {
    Feed manifests =
        new Feed() {
          @Override
          public void start(Consumer<ProxyState> sink) {}

          @Override
          public void close() {}
        };
    assertThat(RunCommand.nodeFacts(manifests).get())
        .hasValueSatisfying(f -> assertThat(f.eligible()).isTrue());
  }
}
