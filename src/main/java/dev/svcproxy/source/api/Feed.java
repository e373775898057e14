package dev.svcproxy.source.api;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.source.ManifestSource;
import dev.svcproxy.source.NodeInfo;
import java.util.Optional;
import java.util.function.Consumer;

/** Where `run` gets its states: manifest files or the API server, the same to the sync loop. */
public interface Feed extends AutoCloseable {
  /** Hands the states to {@code sink}, the first as soon as it is known, then every change. */
  void start(Consumer<ProxyState> sink);

  @Override
  void close();

  /**
   * This node's facts as last seen (for /healthz's nodeEligible); always empty with manifests,
   * which have no Node: callers treat that as eligible.
   */
  default Optional<NodeInfo> node() {
    return Optional.empty();
  }

  /** Whether {@link #node()} follows a Node object (the API source); false for manifests. */
  default boolean watchesNode() {
    return false;
  }

  /** The manifest source: its first state read now, then its changes. */
  static Feed of(ManifestSource source) {
    return new Feed() {
      @Override
      public void start(Consumer<ProxyState> sink) {
        sink.accept(source.load().state());
        source.watch(sink);
      }

      @Override
      public void close() {
        source.close();
      }
    };
  }

  /** The API source: its first state once Services and EndpointSlices have synced. */
  static Feed of(ApiSource source) {
    return new Feed() {
      @Override
      public void start(Consumer<ProxyState> sink) {
        source.watch(sink);
      }

      @Override
      public boolean watchesNode() {
        return true;
      }

      @Override
      public Optional<NodeInfo> node() {
        return source.node();
      }

      @Override
      public void close() {
        source.close();
      }
    };
  }
}
