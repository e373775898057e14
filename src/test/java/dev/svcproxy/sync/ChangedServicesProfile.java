package dev.svcproxy.sync;

import dev.svcproxy.bench.ResyncBenchmark;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Prints the time SyncLoop.changedServices takes at N services (not a test). */
final class ChangedServicesProfile {
  private ChangedServicesProfile() {}

  public static void main(String[] args) {
    ProxyState a = ResyncBenchmark.services(Integer.parseInt(args[0]), 10);
    ServicePortName victim = a.services().firstKey();
    for (int r = 0; r < 20; r++) {
      Map<ServicePortName, List<Endpoint>> eps = new HashMap<>(a.endpoints());
      List<Endpoint> list = new ArrayList<>(a.endpointsOf(victim));
      list.set(0, Endpoint.ready("10.99.0." + (r + 1), 8080, "n"));
      eps.put(victim, list);
      ProxyState b = new ProxyState(new TreeMap<>(a.services()), eps);
      long t0 = System.nanoTime();
      int n = SyncLoop.changedServices(a, b).size();
      System.out.printf(
          "changedServices: %d changed, %.1f ms%n", n, (System.nanoTime() - t0) / 1e6);
      a = b;
    }
  }
}
