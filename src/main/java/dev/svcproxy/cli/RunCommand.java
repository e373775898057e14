package dev.svcproxy.cli;

import dev.svcproxy.conntrack.ConntrackReconciler;
import dev.svcproxy.conntrack.ConntrackSysctls;
import dev.svcproxy.health.HealthServers;
import dev.svcproxy.health.ProxyHealth;
import dev.svcproxy.kernel.CapabilityProbe;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.kernel.NftKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.metrics.MetricsServer;
import dev.svcproxy.metrics.ProxyMetrics;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.render.ipvs.IpvsOptions;
import dev.svcproxy.render.ipvs.IpvsRenderer;
import dev.svcproxy.render.ipvs.IpvsState;
import dev.svcproxy.source.ManifestSource;
import dev.svcproxy.source.NodeInfo;
import dev.svcproxy.source.api.ApiClientConfig;
import dev.svcproxy.source.api.ApiSource;
import dev.svcproxy.source.api.Feed;
import dev.svcproxy.source.api.NodeFacts;
import dev.svcproxy.sync.Proxier;
import dev.svcproxy.sync.SyncLoop;
import dev.svcproxy.sync.SyncObserver;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.sync.ipvs.IpvsProxier;
import dev.svcproxy.sync.nftables.NftRender;
import dev.svcproxy.sync.nftables.NftablesProxier;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Keeps the node's iptables (or IPVS state) equal to the manifests until SIGTERM; rules stay in
 * place after.
 *
 * <p>SIGTERM (or SIGINT) exits 0: it is the normal way to stop, and the rules are meant to stay.
 * Upstream kube-proxy installs no handler, so Go's default applies and it dies by the signal (a
 * shell or container runtime reports 143); a supervisor that counts 143 as a crash would flag every
 * ordinary stop.
 */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    description = {
      "Program the node's iptables (or, with --mode ipvs, IPVS, kube-ipvs0, ipsets and the IPVS-mode",
      "chains; with --mode nftables, the ip kube-proxy nftables table) from the manifests and keep",
      "them in sync until SIGTERM.",
      "One run per network namespace (a lock under /run/svcproxy); SIGTERM exits 0, rules stay."
    })
final class RunCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(RunCommand.class);

  /** How long a signal waits for the main thread to stop the sync loop before exiting anyway. */
  private static final long STOP_WAIT_MS = 1500;

  private final CommandRunner runner;

  @Mixin ProxyOptions options;

  @Mixin AgentOptions agent;

  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--iptables-min-sync-period",
      defaultValue = "1s",
      paramLabel = "DURATION",
      description = "Minimum time between syncs (e.g. 1s, 500ms; 0 syncs at once; >= 0).")
  String minSyncPeriod;

  @Option(
      names = "--iptables-sync-period",
      defaultValue = "30s",
      paramLabel = "DURATION",
      description =
          "Retry interval after a failure and canary check period (e.g. 30s, 1m; > 0, >= min).")
  String syncPeriod;

  @Option(
      names = "--ipvs-graceful-retry-period",
      hidden = true,
      defaultValue = "1m",
      paramLabel = "DURATION",
      description =
          "ipvs mode: how often real servers at weight 0 are checked for drained connections"
              + " (upstream: 1m).")
  String ipvsGracefulRetryPeriod;

  @Option(
      names = "--lock-dir",
      hidden = true,
      defaultValue = "/run/svcproxy",
      paramLabel = "DIR",
      description = "Where the one-run-per-network-namespace lock lives (tests).")
  Path lockDir;

  RunCommand() {
    this(new ProcessCommandRunner());
  }

  /** A run that reaches the kernel only through {@code runner}. */
  RunCommand(CommandRunner runner) {
    this.runner = runner;
  }

  @Override
  public Integer call() throws InterruptedException {
    // issue 9 config: --config with the flags over it, -v, --write-config-to.
    dev.svcproxy.config.KubeProxyConfiguration effective = ConfigFlags.resolve(spec, agent.config);
    dev.svcproxy.logging.Verbosity.apply(agent.verbosity);
    if (agent.writeConfigTo != null) {
      options.validate(ProxyOptions.MODES);
      ConfigFlags.write(effective, agent.writeConfigTo);
      return ExitCodes.OK;
    }
    if (options.ipvs()) {
      options.validate(ProxyOptions.MODES);
      Duration retry = Durations.parse(ipvsGracefulRetryPeriod, "--ipvs-graceful-retry-period");
      if (retry.isZero() || retry.isNegative()) {
        throw new IllegalArgumentException("--ipvs-graceful-retry-period: must be > 0");
      }
      Feed source = openSource();
      RunLock lock = RunLock.acquire(lockDir);
      try {
        return runLocked(
            source,
            new SyncLoop.Timing(
                options.ipvsMinSyncPeriod(), options.ipvsSyncPeriod(), Duration.ofHours(1)),
            retry);
      } finally {
        lock.close();
      }
    }
    Duration min = Durations.parse(minSyncPeriod, "--iptables-min-sync-period");
    Duration sync = Durations.parse(syncPeriod, "--iptables-sync-period");
    Durations.checkSyncPeriods(
        min,
        "--iptables-min-sync-period",
        minSyncPeriod,
        sync,
        "--iptables-sync-period",
        syncPeriod);
    Feed source = openSource();
    options.validate(List.of("iptables", "nftables"));
    RunLock lock = RunLock.acquire(lockDir);
    try {
      return runLocked(source, new SyncLoop.Timing(min, sync, Duration.ofHours(1)), null);
    } finally {
      lock.close();
    }
  }

  /**
   * @param drainRetry ipvs mode's graceful-termination retry period; null in iptables mode
   */
  private int runLocked(Feed source, SyncLoop.Timing timing, Duration drainRetry)
      throws InterruptedException {
    CountDownLatch stop = new CountDownLatch(1);
    CountDownLatch stopped = new CountDownLatch(1);
    // Set when call() ends by itself: an exit it asks for keeps its own code.
    AtomicBoolean ending = new AtomicBoolean();
    Thread hook =
        new Thread(
            () -> {
              if (ending.get()) {
                return;
              }
              LOG.info("terminating; the rules stay in place");
              source.close();
              stop.countDown();
              try {
                stopped.await(STOP_WAIT_MS, TimeUnit.MILLISECONDS);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
              // A signal is the normal way to stop: exit 0, not the JVM's 128 + signal.
              System.err.flush();
              Runtime.getRuntime().halt(ExitCodes.OK);
            },
            "svcproxy-sigterm");
    // Before the first kernel command, so that a signal at any point from here exits 0.
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      ProxyConfig cfg = options.proxyConfig(runner);
      IptablesKernel iptables = new IptablesKernel(runner);
      IpvsKernel ipvs = new IpvsKernel(runner);
      Proxier proxier;
      ScheduledExecutorService drainTimer = null;
      if (drainRetry != null) {
        IpvsOptions ipvsOptions = options.ipvsOptions();
        IpvsProxier p =
            new IpvsProxier(
                ipvs,
                iptables,
                ipvsRenderer(cfg, ipvsOptions),
                ipvsOptions,
                drainRetry,
                System::nanoTime);
        drainTimer =
            Executors.newSingleThreadScheduledExecutor(
                r -> {
                  Thread t = new Thread(r, "ipvs-graceful-termination");
                  t.setDaemon(true);
                  return t;
                });
        long ms = drainRetry.toMillis();
        drainTimer.scheduleWithFixedDelay(
            () -> {
              try {
                p.retryDraining();
              } catch (RuntimeException e) {
                LOG.warn("graceful termination retry failed: {}", e.getMessage());
              }
            },
            ms,
            ms,
            TimeUnit.MILLISECONDS);
        // Upstream removes nftables mode's tables when another mode starts.
        NftablesProxier.removeTables(new NftKernel(runner));
        proxier = p;
      } else if (options.nftables()) {
        NftRender render = NftablesMode.renderer(cfg);
        // Upstream's nftables mode removes iptables and IPVS modes' leftovers when it starts.
        NftablesProxier.removeLeftoversOfOtherModes(iptables, ipvs);
        proxier = new NftablesProxier(new NftKernel(runner), render);
      } else {
        // Upstream removes IPVS mode's and nftables mode's leftovers when another mode starts.
        IpvsProxier.removeLeftoversForOtherMode(ipvs, iptables);
        NftablesProxier.removeTables(new NftKernel(runner));
        IptablesProxier p = new IptablesProxier(iptables, cfg, options.iptablesOptions());
        p.probe();
        proxier = p;
      }
      // Metrics, health servers and conntrack cleanup register here (issue 9); one registry
      // serves /metrics.
      PrometheusRegistry registry = new PrometheusRegistry();
      List<SyncObserver> observers = new ArrayList<>();
      // Metrics (issue 9, piece 3): upstream's kubeproxy_* sync metrics, and the metrics server
      // (/metrics, /proxyMode, /healthz) on --metrics-bind-address, closed with the loop.
      observers.add(new ProxyMetrics(registry, proxier.name(), cfg));
      MetricsServer metrics =
          MetricsServer.start(
              agent.metricsBindAddress, proxier.name(), registry, agent.bindAddressHardFail);
      // Health (issue 9): /healthz, /livez and the health-check node ports; the Node's
      // eligibility from the API source (no Node object with --manifests: always eligible).
      HealthServers health =
          HealthServers.start(
              cfg,
              timing.syncPeriod(),
              agent.healthzBindAddress,
              agent.bindAddressHardFail,
              registry,
              nodeFacts(source));
      observers.addAll(health.observers());
      // conntrack (issue 9): the --conntrack-* sysctls before the first sync, as upstream's
      // SetSysctls; then stale UDP/SCTP flows are deleted after each sync that changed them.
      new ConntrackSysctls(runner, ConntrackSysctls.detectNumCpu(runner))
          .apply(ConntrackFlags.settings(agent));
      observers.add(new ConntrackReconciler(runner, registry));
      try (health;
          SyncLoop loop = new SyncLoop(proxier, timing, observers)) {
        // The loop syncs nothing before the source's first state (the API source's comes once
        // Services and EndpointSlices are synced).
        loop.start();
        source.start(loop::update);
        LOG.info("svcproxy running in {} mode on node {}", proxier.name(), options.nodeName);
        stop.await();
      } finally {
        if (metrics != null) {
          metrics.close();
        }
        if (drainTimer != null) {
          drainTimer.shutdownNow();
        }
      }
    } finally {
      ending.set(!stop.await(0, TimeUnit.MILLISECONDS));
      stopped.countDown();
      if (ending.get()) {
        removeHook(hook);
      }
    }
    return ExitCodes.OK;
  }

  /**
   * Kubernetes API source (issue 9, api): manifest files, or the API server (--kubeconfig,
   * --master, in-cluster). With the API, the node facts no flag gives come from this Node: its IP
   * (status.addresses), its pod CIDR for --detect-local-mode NodeCIDR, its zone label.
   */
  private Feed openSource() throws InterruptedException {
    Optional<io.fabric8.kubernetes.client.Config> api =
        ApiClientConfig.choose(
            options.manifests,
            agent.kubeconfig,
            agent.master,
            ApiClientConfig.SERVICE_ACCOUNT,
            System.getenv());
    if (api.isEmpty()) {
      return Feed.of(new ManifestSource(options.manifestsRequired()));
    }
    Duration resync = Durations.parse(agent.configSyncPeriod, "--config-sync-period");
    if (resync.isZero() || resync.isNegative()) {
      throw new IllegalArgumentException("--config-sync-period: must be > 0");
    }
    ApiSource source = ApiSource.start(ApiClientConfig.client(api.get()), options.nodeName, resync);
    try {
      boolean nodeCidr =
          LocalTrafficDetector.Mode.parse(options.detectLocalMode)
              == LocalTrafficDetector.Mode.NODE_CIDR;
      NodeFacts facts =
          NodeFacts.await(
              source,
              options.nodeName,
              options.nodeIP == null,
              nodeCidr && options.nodePodCidr == null,
              options.zone == null,
              NodeFacts.NODE_WAIT,
              NodeFacts.POD_CIDR_WAIT);
      options.nodeIP = options.nodeIP != null ? options.nodeIP : facts.nodeIp();
      options.nodePodCidr = options.nodePodCidr != null ? options.nodePodCidr : facts.podCidr();
      options.zone = options.zone != null ? options.zone : facts.zone();
    } catch (RuntimeException | InterruptedException e) {
      source.close();
      throw e;
    }
    return Feed.of(source);
  }

  /**
   * The IPVS renderer bound to this node: capabilities probed once at start as iptables mode does,
   * the kernel release read once (it decides conn_reuse_mode), and the node's addresses other than
   * kube-ipvs0's read at every sync, as upstream's syncProxyRules does.
   */
  private Function<ProxyState, IpvsState> ipvsRenderer(ProxyConfig cfg, IpvsOptions o) {
    KernelCapabilities caps =
        CapabilityProbe.startup(new IptablesKernel(runner), KernelCapabilities.none());
    CommandResult uname = runner.run("uname", "-r");
    IpvsRenderer renderer =
        new IpvsRenderer(cfg, o, caps, uname.ok() ? uname.stdout().strip() : "");
    return state -> renderer.render(state, localAddresses());
  }

  /** The node's IPv4 addresses on every interface but kube-ipvs0 (GetAllLocalAddressesExcept). */
  private List<String> localAddresses() {
    return new IpvsKernel(runner).localAddressesExcept(IpvsState.DUMMY_DEVICE);
  }

  /**
   * What /healthz knows of this Node: from the API source's Node informer (empty until the Node is
   * seen, which upstream answers 503), or a plain node when manifests have no Node object.
   */
  static java.util.function.Supplier<Optional<NodeInfo>> nodeFacts(Feed source) {
    return source.watchesNode() ? source::node : ProxyHealth.noNodeObject();
  }

  /** In-process callers (tests) outlive a failed run: its hook must not fire at their exit. */
  private static void removeHook(Thread hook) {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // The JVM is already shutting down; the hook sees `ending` and does nothing.
    }
  }
}
