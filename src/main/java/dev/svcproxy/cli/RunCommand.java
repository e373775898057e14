package dev.svcproxy.cli;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.source.ManifestSource;
import dev.svcproxy.sync.IptablesProxier;
import dev.svcproxy.sync.SyncLoop;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Keeps the node's iptables equal to the manifests until SIGTERM; rules stay in place after. */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    description =
        "Program the node's iptables from the manifests and keep them in sync until SIGTERM.")
final class RunCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(RunCommand.class);

  @Mixin ProxyOptions options;

  @Option(
      names = "--iptables-min-sync-period",
      defaultValue = "1s",
      paramLabel = "DURATION",
      description = "Minimum time between syncs (e.g. 1s, 500ms).")
  String minSyncPeriod;

  @Option(
      names = "--iptables-sync-period",
      defaultValue = "30s",
      paramLabel = "DURATION",
      description = "Retry interval after a failure and canary check period.")
  String syncPeriod;

  @Override
  public Integer call() throws InterruptedException {
    CommandRunner runner = new ProcessCommandRunner();
    IptablesProxier proxier =
        new IptablesProxier(new IptablesKernel(runner), options.iptablesConfig(runner));
    ManifestSource source = new ManifestSource(options.manifests);
    SyncLoop.Timing timing =
        new SyncLoop.Timing(
            Durations.parse(minSyncPeriod, "--iptables-min-sync-period"),
            Durations.parse(syncPeriod, "--iptables-sync-period"),
            Duration.ofHours(1));
    proxier.probe();
    CountDownLatch stop = new CountDownLatch(1);
    try (SyncLoop loop = new SyncLoop(proxier, timing)) {
      loop.update(source.load().state());
      loop.start();
      source.watch(loop::update);
      Runtime.getRuntime()
          .addShutdownHook(
              new Thread(
                  () -> {
                    LOG.info("terminating; the rules stay in place");
                    source.close();
                    stop.countDown();
                  }));
      LOG.info("svcproxy running in iptables mode on node {}", options.nodeName);
      stop.await();
    }
    return 0;
  }
}
