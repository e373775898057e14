package dev.svcproxy.cli;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.source.ManifestSource;
import dev.svcproxy.sync.SyncLoop;
import dev.svcproxy.sync.iptables.IptablesProxier;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Keeps the node's iptables equal to the manifests until SIGTERM; rules stay in place after.
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
      "Program the node's iptables from the manifests and keep them in sync until SIGTERM.",
      "One run per network namespace (a lock under /run/svcproxy); SIGTERM exits 0, rules stay."
    })
final class RunCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(RunCommand.class);

  /** How long a signal waits for the main thread to stop the sync loop before exiting anyway. */
  private static final long STOP_WAIT_MS = 1500;

  private final CommandRunner runner;

  @Mixin ProxyOptions options;

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
    Duration min = Durations.parse(minSyncPeriod, "--iptables-min-sync-period");
    Duration sync = Durations.parse(syncPeriod, "--iptables-sync-period");
    Durations.checkSyncPeriods(
        min,
        "--iptables-min-sync-period",
        minSyncPeriod,
        sync,
        "--iptables-sync-period",
        syncPeriod);
    options.validate();
    ManifestSource source = new ManifestSource(options.manifests);
    RunLock lock = RunLock.acquire(lockDir);
    try {
      return runLocked(source, new SyncLoop.Timing(min, sync, Duration.ofHours(1)));
    } finally {
      lock.close();
    }
  }

  private int runLocked(ManifestSource source, SyncLoop.Timing timing) throws InterruptedException {
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
      IptablesProxier proxier =
          new IptablesProxier(
              new IptablesKernel(runner), options.proxyConfig(runner), options.iptablesOptions());
      proxier.probe();
      try (SyncLoop loop = new SyncLoop(proxier, timing)) {
        loop.update(source.load().state());
        loop.start();
        source.watch(loop::update);
        LOG.info("svcproxy running in iptables mode on node {}", options.nodeName);
        stop.await();
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

  /** In-process callers (tests) outlive a failed run: its hook must not fire at their exit. */
  private static void removeHook(Thread hook) {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // The JVM is already shutting down; the hook sees `ending` and does nothing.
    }
  }
}
