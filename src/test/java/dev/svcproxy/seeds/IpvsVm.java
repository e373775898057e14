package dev.svcproxy.seeds;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assertions;

/** What the seed tests need of the VM until the harness's own helpers are merged. */
final class IpvsVm {
  private IpvsVm() {}

  /** Fails (never skips) unless the kernel has IPVS. */
  static void requireIpvs(String what) {
    if (!Files.exists(Path.of("/proc/net/ip_vs"))) {
      Assertions.fail(what + ": this kernel has no IPVS (/proc/net/ip_vs); run it in the VM");
    }
  }

  /** {@code d} times the VM's slowdown (system property svcproxy.timeScale, 1 by default). */
  static Duration scale(Duration d) {
    double f = Double.parseDouble(System.getProperty("svcproxy.timeScale", "1"));
    return Duration.ofMillis((long) (d.toMillis() * f));
  }
}
