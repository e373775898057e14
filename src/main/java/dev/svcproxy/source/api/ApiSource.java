package dev.svcproxy.source.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.EndpointSlice;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.Service;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import dev.svcproxy.source.ManifestParser;
import dev.svcproxy.source.NodeInfo;
import dev.svcproxy.source.Printable;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.api.model.Taint;
import io.fabric8.kubernetes.api.model.networking.v1.ServiceCIDR;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Services, EndpointSlices, this Node and ServiceCIDRs from the Kubernetes API server, through
 * fabric8 informers (list, then watch; relist after a 410 Gone or a broken watch).
 *
 * <p>As upstream's cmd/kube-proxy, Services and EndpointSlices are listed with the label selector
 * {@code !service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless}, in every
 * namespace; the Node by the field selector {@code metadata.name=<node>}. Each object goes through
 * the same checks as a manifest ({@link ManifestParser}); one that fails is logged and left out,
 * and the others still count. The first state reaches the sink only once Services and
 * EndpointSlices have both been listed, as upstream waits for both caches before its first sync;
 * later changes are coalesced into one rebuild on the source's own thread.
 */
public final class ApiSource implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ApiSource.class);

  /** Services (and their EndpointSlices) another proxy owns; upstream's LabelServiceProxyName. */
  public static final String SERVICE_PROXY_NAME = "service.kubernetes.io/service-proxy-name";

  /**
   * The label the EndpointSlice controller puts on headless Services' slices (IsHeadlessService).
   */
  public static final String HEADLESS = "service.kubernetes.io/headless";

  private static final ObjectMapper JSON = new ObjectMapper();

  private final KubernetesClient client;
  private final String nodeName;
  private final SharedIndexInformer<io.fabric8.kubernetes.api.model.Service> services;
  private final SharedIndexInformer<io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice>
      slices;
  private final SharedIndexInformer<Node> nodes;
  private final SharedIndexInformer<ServiceCIDR> cidrs;

  /**
   * Objects as last converted, keyed "ns/name", with the resourceVersion they were converted at: a
   * rebuild converts only what changed, and an invalid object is reported once per version. Touched
   * only on the worker thread.
   */
  private Map<String, Converted<Service>> serviceModels = Map.of();

  private Map<String, Converted<EndpointSlice>> sliceModels = Map.of();
  private final Map<String, List<Cidr>> cidrsByName = new ConcurrentHashMap<>();
  private final List<Consumer<NodeInfo>> nodeListeners = new CopyOnWriteArrayList<>();
  private final ScheduledExecutorService worker;
  private final AtomicBoolean flushQueued = new AtomicBoolean();
  private final CompletableFuture<Void> synced;
  private volatile Optional<NodeInfo> node = Optional.empty();
  private volatile Consumer<ProxyState> sink;
  private volatile boolean closed;

  /** Set once Services and EndpointSlices have both been listed. */
  private volatile boolean listed;

  /** The last state handed to the sink; touched only on the worker thread. */
  private ProxyState delivered;

  private ApiSource(KubernetesClient client, String nodeName, Duration resync) {
    this.client = client;
    this.nodeName = nodeName;
    long resyncMs = resync.toMillis();
    this.worker =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "api-source");
              t.setDaemon(true);
              return t;
            });
    services =
        client
            .services()
            .inAnyNamespace()
            .withoutLabel(SERVICE_PROXY_NAME)
            .withoutLabel(HEADLESS)
            .runnableInformer(resyncMs);
    slices =
        client
            .discovery()
            .v1()
            .endpointSlices()
            .inAnyNamespace()
            .withoutLabel(SERVICE_PROXY_NAME)
            .withoutLabel(HEADLESS)
            .runnableInformer(resyncMs);
    nodes = client.nodes().withField("metadata.name", nodeName).runnableInformer(resyncMs);
    cidrs = client.network().v1().serviceCIDRs().runnableInformer(resyncMs);
    services.addEventHandler(handler((k, o) -> queueFlush()));
    slices.addEventHandler(handler((k, o) -> queueFlush()));
    nodes.addEventHandler(nodeHandler());
    cidrs.addEventHandler(handler(this::onCidr));
    for (SharedIndexInformer<?> i : List.of(services, slices, nodes, cidrs)) {
      // fabric8's default gives up on a failed first list and on watch errors other than 410;
      // a node agent must keep trying (its reflector backs off exponentially, bounded).
      i.exceptionHandler((started, t) -> !closed);
    }
    CompletableFuture<Void> s = services.start().toCompletableFuture();
    CompletableFuture<Void> e = slices.start().toCompletableFuture();
    nodes.start();
    cidrs.start();
    // fabric8 reconnects a broken watch quietly (debug logs): say when the API server is lost and
    // when it is back, so the log explains why the rules stop following the cluster.
    worker.scheduleWithFixedDelay(this::checkWatching, 2, 2, TimeUnit.SECONDS);
    synced =
        CompletableFuture.allOf(s, e)
            .thenRun(
                () -> {
                  LOG.info(
                      "Services and EndpointSlices synced from the API server ({} Services, {}"
                          + " EndpointSlices)",
                      services.getStore().list().size(),
                      slices.getStore().list().size());
                  listed = true;
                  queueFlush();
                });
  }

  /**
   * Starts informers for the API server {@code client} talks to; this node is {@code nodeName};
   * {@code resync} is upstream's --config-sync-period (a periodic replay of the caches).
   */
  public static ApiSource start(KubernetesClient client, String nodeName, Duration resync) {
    return new ApiSource(client, nodeName, resync);
  }

  /**
   * Hands every changed state to {@code sink} from now on, the first once Services and
   * EndpointSlices have synced. Nothing is delivered while the API server is unreachable: the
   * kernel keeps the last state applied.
   */
  public void watch(Consumer<ProxyState> sink) {
    this.sink = Objects.requireNonNull(sink);
    queueFlush();
  }

  /** Whether Services and EndpointSlices have both been listed once. */
  public boolean hasSynced() {
    return listed;
  }

  /**
   * Whether the Service and EndpointSlice watches are open now: false while the API server is
   * unreachable and the informers retry (the states handed on are then the last known).
   */
  public boolean watching() {
    return services.isWatching() && slices.isWatching();
  }

  /** Waits up to {@code timeout} for Services and EndpointSlices to be listed once. */
  public boolean awaitSynced(Duration timeout) throws InterruptedException {
    try {
      synced.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      return false;
    }
  }

  /** This node's facts as last seen; empty until the Node has been seen. */
  public Optional<NodeInfo> node() {
    return node;
  }

  /** Whether the Node is eligible for new connections; true until it has been seen. */
  public boolean nodeEligible() {
    return node.map(NodeInfo::eligible).orElse(true);
  }

  /** Calls {@code listener} (on an informer thread) whenever this node's facts change. */
  public void onNodeChange(Consumer<NodeInfo> listener) {
    nodeListeners.add(listener);
  }

  /**
   * Waits up to {@code timeout} for the Node to satisfy {@code ready} (e.g. to have a pod CIDR).
   */
  public Optional<NodeInfo> awaitNode(
      java.util.function.Predicate<NodeInfo> ready, Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    synchronized (nodeListeners) {
      while (true) {
        Optional<NodeInfo> n = node;
        if (n.isPresent() && ready.test(n.get())) {
          return n;
        }
        long left = end - System.nanoTime();
        if (left <= 0) {
          return Optional.empty();
        }
        nodeListeners.wait(Math.max(1, left / 1_000_000));
      }
    }
  }

  /**
   * The service CIDRs the cluster's ServiceCIDR objects (networking.k8s.io/v1) name, by object name
   * then in each object's order, without repeats; invalid objects are left out.
   */
  public List<Cidr> serviceCidrs() {
    java.util.LinkedHashSet<Cidr> out = new java.util.LinkedHashSet<>();
    new TreeMap<>(cidrsByName).values().forEach(out::addAll);
    return List.copyOf(out);
  }

  private static <T extends HasMetadata> ResourceEventHandler<T> handler(
      java.util.function.BiConsumer<String, Optional<T>> apply) {
    return new ResourceEventHandler<>() {
      @Override
      public void onAdd(T obj) {
        apply.accept(key(obj), Optional.of(obj));
      }

      @Override
      public void onUpdate(T oldObj, T newObj) {
        apply.accept(key(newObj), Optional.of(newObj));
      }

      @Override
      public void onDelete(T obj, boolean deletedFinalStateUnknown) {
        apply.accept(key(obj), Optional.empty());
      }
    };
  }

  private static String key(HasMetadata o) {
    String ns = o.getMetadata().getNamespace();
    return (ns == null || ns.isEmpty() ? "" : ns + "/") + o.getMetadata().getName();
  }

  private void onCidr(String key, Optional<ServiceCIDR> obj) {
    List<Cidr> list =
        obj.flatMap(c -> convert("ServiceCIDR", key, c, ManifestParser::serviceCidr))
            .orElse(List.of());
    List<Cidr> before = list.isEmpty() ? cidrsByName.remove(key) : cidrsByName.put(key, list);
    if (!list.equals(before == null ? List.of() : before)) {
      queueFlush();
    }
  }

  /**
   * The object through the manifest checks: serialized as the API server sent it and read back as a
   * JSON tree. Empty (and logged, naming the object and the field) when it fails them, and for
   * Services a proxy skips (headless, ExternalName).
   */
  private <T> Optional<T> convert(
      String kind, String key, HasMetadata obj, Function<JsonNode, T> parse) {
    try {
      JsonNode tree = JSON.readTree(client.getKubernetesSerialization().asJson(obj));
      return Optional.ofNullable(parse.apply(tree));
    } catch (IllegalArgumentException e) {
      LOG.warn("{} {} left out: {}", kind, Printable.escape(key), Printable.escape(e.getMessage()));
    } catch (IOException | RuntimeException e) {
      LOG.warn(
          "{} {} left out: cannot be read ({})",
          kind,
          Printable.escape(key),
          Printable.escape(String.valueOf(e.getMessage())));
    }
    return Optional.empty();
  }

  private ResourceEventHandler<Node> nodeHandler() {
    return new ResourceEventHandler<>() {
      @Override
      public void onAdd(Node obj) {
        setNode(Optional.of(nodeInfo(obj)));
      }

      @Override
      public void onUpdate(Node oldObj, Node newObj) {
        setNode(Optional.of(nodeInfo(newObj)));
      }

      @Override
      public void onDelete(Node obj, boolean deletedFinalStateUnknown) {
        // A deleted Node is the extreme of one being deleted: keep its facts, mark it going.
        setNode(Optional.of(nodeInfo(obj).gone()));
      }
    };
  }

  private void setNode(Optional<NodeInfo> n) {
    Optional<NodeInfo> before;
    synchronized (nodeListeners) {
      before = node;
      node = n;
      nodeListeners.notifyAll();
    }
    if (n.isEmpty() || n.equals(before)) {
      return;
    }
    if (before.isPresent() && !before.get().zone().equals(n.get().zone())) {
      LOG.warn(
          "Node {} zone label changed from \"{}\" to \"{}\"; restart svcproxy to use it",
          Printable.escape(nodeName),
          Printable.escape(before.get().zone()),
          Printable.escape(n.get().zone()));
    }
    for (Consumer<NodeInfo> l : nodeListeners) {
      try {
        l.accept(n.get());
      } catch (RuntimeException e) {
        LOG.warn("node listener failed: {}", e.toString());
      }
    }
  }

  /** The proxy's view of a Node object. */
  static NodeInfo nodeInfo(Node n) {
    List<String> internal = new ArrayList<>();
    List<String> external = new ArrayList<>();
    if (n.getStatus() != null && n.getStatus().getAddresses() != null) {
      for (NodeAddress a : n.getStatus().getAddresses()) {
        String ip = a.getAddress() == null ? "" : a.getAddress().strip();
        if (!Ip.isIpv4(ip)) {
          continue;
        }
        if ("InternalIP".equals(a.getType())) {
          internal.add(Ip.parseSloppy(ip));
        } else if ("ExternalIP".equals(a.getType())) {
          external.add(Ip.parseSloppy(ip));
        }
      }
    }
    List<String> addresses = new ArrayList<>(internal);
    external.stream().filter(a -> !addresses.contains(a)).forEach(addresses::add);
    List<String> podCidrs = new ArrayList<>();
    if (n.getSpec() != null) {
      if (n.getSpec().getPodCIDRs() != null && !n.getSpec().getPodCIDRs().isEmpty()) {
        n.getSpec().getPodCIDRs().stream().filter(Objects::nonNull).forEach(podCidrs::add);
      } else if (n.getSpec().getPodCIDR() != null && !n.getSpec().getPodCIDR().isEmpty()) {
        podCidrs.add(n.getSpec().getPodCIDR());
      }
    }
    Map<String, String> labels =
        n.getMetadata().getLabels() == null ? Map.of() : n.getMetadata().getLabels();
    boolean tainted = false;
    if (n.getSpec() != null && n.getSpec().getTaints() != null) {
      for (Taint t : n.getSpec().getTaints()) {
        tainted |= NodeInfo.TO_BE_DELETED_TAINT.equals(t.getKey());
      }
    }
    return new NodeInfo(
        n.getMetadata().getName(),
        addresses,
        podCidrs,
        labels.getOrDefault(NodeInfo.ZONE_LABEL, ""),
        n.getMetadata().getDeletionTimestamp() != null,
        tainted);
  }

  /**
   * An object's model (empty: left out), and the informer's object it came from: the store holds a
   * new object for every change, so identity says whether to convert again (resourceVersions alone
   * would not do: a restored or restarted store can reuse them).
   */
  private record Converted<T>(HasMetadata source, Optional<T> model) {}

  private <T> Map<String, Converted<T>> convertAll(
      String kind,
      List<? extends HasMetadata> objects,
      Map<String, Converted<T>> before,
      Function<JsonNode, T> parse) {
    Map<String, Converted<T>> out = new TreeMap<>();
    for (HasMetadata o : objects) {
      String key = key(o);
      Converted<T> c = before.get(key);
      if (c == null || c.source() != o) {
        c = new Converted<>(o, convert(kind, key, o, parse));
      }
      out.put(key, c);
    }
    return out;
  }

  private static <T> List<T> present(Map<String, Converted<T>> models) {
    List<T> out = new ArrayList<>();
    for (Converted<T> c : models.values()) {
      c.model().ifPresent(out::add);
    }
    return out;
  }

  /** Whether the watches were open at the last check; touched only on the worker thread. */
  private boolean wasWatching = true;

  private void checkWatching() {
    if (!listed || closed) {
      return;
    }
    boolean now = watching();
    if (now != wasWatching) {
      if (now) {
        LOG.info("watching Services and EndpointSlices again");
      } else {
        LOG.warn(
            "lost the watch of Services/EndpointSlices (API server unreachable?); the rules stay"
                + " as they are while the informers reconnect");
      }
      wasWatching = now;
    }
  }

  /** Schedules one rebuild; events arriving before it runs are folded into it. */
  private void queueFlush() {
    if (closed || !flushQueued.compareAndSet(false, true)) {
      return;
    }
    try {
      worker.execute(this::flush);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // Closed meanwhile.
    }
  }

  private void flush() {
    flushQueued.set(false);
    Consumer<ProxyState> s = sink;
    if (s == null || !hasSynced() || closed) {
      return;
    }
    // The informers' stores are the truth (a relist replaces them whole); events only say when.
    serviceModels =
        convertAll("Service", services.getStore().list(), serviceModels, ManifestParser::service);
    sliceModels =
        convertAll(
            "EndpointSlice", slices.getStore().list(), sliceModels, ManifestParser::endpointSlice);
    ProxyState state =
        ProxyStateBuilder.build(present(serviceModels), present(sliceModels))
            .withServiceCidrs(serviceCidrs());
    if (state.equals(delivered)) {
      return;
    }
    delivered = state;
    s.accept(state);
  }

  @Override
  public void close() {
    closed = true;
    for (SharedIndexInformer<?> i : List.of(services, slices, nodes, cidrs)) {
      try {
        i.stop();
      } catch (RuntimeException e) {
        // Stopping is best effort; the process is usually on its way out.
      }
    }
    worker.shutdownNow();
    client.close();
  }
}
