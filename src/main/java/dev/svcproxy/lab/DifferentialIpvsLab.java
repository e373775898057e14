package dev.svcproxy.lab;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.render.ipvs.IpvsOptions;
import dev.svcproxy.render.ipvs.IpvsRenderer;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import dev.svcproxy.source.ManifestParser;
import dev.svcproxy.source.ManifestSet;
import dev.svcproxy.sync.ipvs.IpvsProxier;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The demo cluster's lab (same nodes, pods, clients and Services as {@link DemoCluster}) with both
 * nodes programmed by svcproxy's IPVS mode in this process: the IPVS renderer and proxier run with
 * a command runner inside each node's namespace, as `svcproxy run --mode ipvs --cluster-cidr
 * 10.244.0.0/16` would, without starting a JVM per node (in the emulated kernel VM that start alone
 * takes tens of seconds).
 */
public final class DifferentialIpvsLab implements AutoCloseable {
  private final Lab lab;
  private final List<IpvsProxier> proxiers = new ArrayList<>();
  private boolean masqueradeAll;
  private long syncNanos;
  private boolean webB = true;

  private DifferentialIpvsLab(Lab lab) {
    this.lab = lab;
  }

  /** Builds the demo's lab and programs both nodes in IPVS mode; close it when done. */
  public static DifferentialIpvsLab start(CommandRunner runner) {
    Lab lab = Lab.create(runner, 2);
    try {
      lab.addPod("node1", "web-a");
      lab.addPod("node1", "client");
      lab.addPod("node2", "web-b");
      for (String name : List.of("ext", "ext2")) {
        Lab.Client c = lab.addClient(name);
        lab.route(c.netns(), DemoCluster.LB_VIP, lab.node("node1").ip());
        lab.route(c.netns(), DemoCluster.EXTERNAL_IP, lab.node("node1").ip());
      }
      lab.startBackend(lab.pod("web-a"), DemoCluster.BACKEND_PORT);
      lab.startBackend(lab.pod("web-b"), DemoCluster.BACKEND_PORT);
      DifferentialIpvsLab l = new DifferentialIpvsLab(lab);
      l.resync();
      return l;
    } catch (RuntimeException e) {
      lab.close();
      throw e;
    }
  }

  /** Time spent in the proxiers' full syncs so far. */
  public Duration syncTime() {
    return Duration.ofNanos(syncNanos);
  }

  public Lab lab() {
    return lab;
  }

  /** The Services and EndpointSlices the nodes serve now. */
  public ProxyState state() {
    String yaml = DemoCluster.services() + "---\n" + DemoCluster.endpointSlices(lab, webB);
    ManifestSet set = new ManifestParser().parse("demo.yaml", yaml);
    if (!set.problems().isEmpty()) {
      throw new IllegalStateException("demo manifests: " + set.problems());
    }
    return ProxyStateBuilder.build(set.services(), set.slices());
  }

  /**
   * With {@code webB} false, web's slice no longer lists web-b: a partial sync on both nodes, as
   * the sync loop makes after an EndpointSlice edit (graceful termination keeps web-b at weight 0
   * while it has connections).
   */
  public void setWebB(boolean on) {
    webB = on;
    ProxyState s = state();
    for (IpvsProxier p : proxiers) {
      p.sync(s, false, Set.of("default/web"));
    }
  }

  /** Restarts the proxies (a full sync from new proxiers) with or without --masquerade-all. */
  public void setMasqueradeAll(boolean on) {
    masqueradeAll = on;
    resync();
  }

  private void resync() {
    proxiers.clear();
    ProxyState s = state();
    for (Lab.Node n : lab.nodes()) {
      CommandRunner r = lab.runner().inNetns(n.netns());
      ProxyConfig cfg =
          ProxyConfig.defaults(
                  n.name(),
                  n.ip(),
                  new LocalTrafficDetector(
                      LocalTrafficDetector.Mode.CLUSTER_CIDR, Lab.CLUSTER_CIDR))
              .withMasqueradeAll(masqueradeAll);
      String release = r.run("uname", "-r").stdout().strip();
      IpvsRenderer renderer =
          new IpvsRenderer(cfg, IpvsOptions.defaults(), KernelCapabilities.none(), release);
      // The node's addresses off kube-ipvs0 (eth0's and cni0's): what run reads with ip addr.
      List<String> addresses = List.of(n.ip(), n.bridgeIp());
      IpvsProxier p =
          new IpvsProxier(
              new IpvsKernel(r),
              new IptablesKernel(r),
              st -> renderer.render(st, addresses),
              IpvsOptions.defaults(),
              Duration.ofHours(1),
              System::nanoTime);
      long t0 = System.nanoTime();
      p.sync(s, true, Set.of());
      syncNanos += System.nanoTime() - t0;
      proxiers.add(p);
    }
  }

  /**
   * The cases of the first round: pods, nodes and external clients against the demo's Services as
   * IPVS mode serves them (rr over two endpoints, an unserved port of a VIP, no endpoints,
   * persistence, hairpin, NodePorts with either traffic policy from every side, the LB IP inside
   * and outside its source ranges, the externalIP).
   */
  public List<Differential.Case> cases(Differential d) {
    String n1 = lab.node("node1").ip();
    String n2 = lab.node("node2").ip();
    List<Differential.Case> out = new ArrayList<>();
    // The VM runs ~20x slower than native: each source takes the destinations that exercise
    // something of its own (web-b, on node2, mirrors the client pod on node1 elsewhere).
    out.addAll(
        d.cases(
            List.of("client", "node1"),
            List.of(
                new Differential.Dst(DemoCluster.WEB, 80, true),
                new Differential.Dst(DemoCluster.WEB, 81, true),
                new Differential.Dst(DemoCluster.EMPTY, 80, true),
                new Differential.Dst(DemoCluster.STICKY, 80, true),
                new Differential.Dst(DemoCluster.LB_VIP, 80, false),
                new Differential.Dst(DemoCluster.EXTERNAL_IP, 80, false),
                new Differential.Dst(n1, DemoCluster.WEB_NODEPORT, false),
                new Differential.Dst(n2, DemoCluster.WEB_NODEPORT, false),
                new Differential.Dst(n1, DemoCluster.WEB_LOCAL_NODEPORT, false))));
    out.add(d.caseOf("client", DemoCluster.WEB_LOCAL, 80));
    out.addAll(
        d.cases(
            List.of("web-b"),
            List.of(
                new Differential.Dst(DemoCluster.WEB, 80, true),
                new Differential.Dst(DemoCluster.WEB_LOCAL, 80, true),
                new Differential.Dst(n1, DemoCluster.WEB_LOCAL_NODEPORT, false))));
    out.addAll(
        d.cases(
            List.of("web-a"),
            List.of(
                new Differential.Dst(DemoCluster.SELF, 80, true),
                new Differential.Dst(DemoCluster.WEB, 80, true))));
    out.add(d.caseOf("node2", DemoCluster.WEB, 80));
    out.addAll(
        d.cases(
            List.of("ext"),
            List.of(
                new Differential.Dst(n1, DemoCluster.WEB_NODEPORT, false),
                new Differential.Dst(n2, DemoCluster.WEB_NODEPORT, false),
                new Differential.Dst(n1, DemoCluster.WEB_LOCAL_NODEPORT, false),
                new Differential.Dst(n2, DemoCluster.WEB_LOCAL_NODEPORT, false),
                new Differential.Dst(n1, 30083, false),
                new Differential.Dst(DemoCluster.LB_VIP, 80, false),
                new Differential.Dst(DemoCluster.EXTERNAL_IP, 80, false))));
    out.addAll(
        d.cases(
            List.of("ext2"),
            List.of(
                new Differential.Dst(DemoCluster.LB_VIP, 80, false),
                new Differential.Dst(n1, 30083, false))));
    return out;
  }

  /**
   * The cases of a later round, after {@link #setWebB}(false): web's web-b at weight 0 while its
   * connections drain, and the persistence templates the first round left.
   */
  public List<Differential.Case> laterCases(Differential d) {
    String n1 = lab.node("node1").ip();
    return List.of(
        d.caseOf("client", DemoCluster.WEB, 80),
        d.caseOf("node1", DemoCluster.WEB, 80),
        d.caseOf("web-b", DemoCluster.WEB, 80),
        d.caseOf("ext", n1, DemoCluster.WEB_NODEPORT),
        d.caseOf("client", DemoCluster.STICKY, 80));
  }

  @Override
  public void close() {
    lab.close();
  }
}
