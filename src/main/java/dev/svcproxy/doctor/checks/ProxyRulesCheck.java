package dev.svcproxy.doctor.checks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.Check;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.ProxyFlags;
import dev.svcproxy.doctor.Severity;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.bundle.ProxyProcessFacts;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * kube-proxy's rules as the node holds them (iptables and nftables modes): Service ports turned
 * away for want of (local) endpoints, endpoints the proxy does not see as its own, hairpin traffic
 * that cannot come back, rules split between iptables backends or written twice, and a proxy that
 * no longer keeps its rules.
 */
public final class ProxyRulesCheck implements Check {
  static final Catalogue.Entry NO_ENDPOINTS =
      new Catalogue.Entry(
          "no-endpoints",
          Severity.WARNING,
          "A Service port has no ready endpoints: connections are refused",
          List.of(
              "seed 004",
              "https://kubernetes.io/docs/tasks/debug/debug-application/debug-service/#does-the-service-have-any-endpoints"));
  static final Catalogue.Entry ETP_LOCAL_NO_LOCAL =
      new Catalogue.Entry(
          "etp-local-no-local-endpoints",
          Severity.INFO,
          "externalTrafficPolicy=Local: this node has no endpoint and drops external traffic",
          List.of("seed 002", "seed 001"));
  static final Catalogue.Entry ETP_LOCAL_NAME_MISMATCH =
      new Catalogue.Entry(
          "etp-local-node-name-mismatch",
          Severity.ERROR,
          "Endpoints on this node carry another node name: eTP=Local traffic is dropped",
          List.of("seed 002", "kubernetes/kubernetes#59678", "kubernetes-sigs/kubespray#3610"));
  static final Catalogue.Entry HAIRPIN =
      new Catalogue.Entry(
          "hairpin-not-masqueraded",
          Severity.WARNING,
          "A pod reaching its own Service gets no reply",
          List.of(
              "seed 004",
              "https://kubernetes.io/docs/tasks/debug/debug-application/debug-service/#a-pod-fails-to-reach-itself-via-the-service-ip"));
  static final Catalogue.Entry MIXED =
      new Catalogue.Entry(
          "mixed-iptables-backends",
          Severity.WARNING,
          "Rules are split between iptables-legacy and iptables-nft",
          List.of(
              "book: mixed iptables-legacy and iptables-nft",
              "kubernetes/kubernetes#109811",
              "kubernetes/kubernetes#71305"));
  static final Catalogue.Entry DUPLICATES =
      new Catalogue.Entry(
          "duplicate-rules",
          Severity.WARNING,
          "The same rule appears more than once in a chain",
          List.of("kubernetes/kubernetes#14870", "cloudnativelabs/kube-router#1676"));
  static final Catalogue.Entry NOT_RUNNING =
      new Catalogue.Entry(
          "kube-proxy-not-running",
          Severity.ERROR,
          "No Service proxy keeps this node's rules",
          List.of("seed 004"));

  private static final List<String> CANARY_TABLES = List.of("mangle", "nat", "filter");
  private static final String CANARY = "KUBE-PROXY-CANARY";

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(
        NO_ENDPOINTS,
        ETP_LOCAL_NO_LOCAL,
        ETP_LOCAL_NAME_MISMATCH,
        HAIRPIN,
        MIXED,
        DUPLICATES,
        NOT_RUNNING);
  }

  @Override
  public List<Finding> run(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    List<ProxyRules.Turned> turned = ProxyRules.turnedAway(ctx);
    out.addAll(noEndpoints(ctx, turned));
    out.addAll(etpLocal(ctx, turned));
    out.addAll(hairpin(ctx));
    out.addAll(IpvsLoopBack.findings(ctx));
    out.addAll(mixed(ctx));
    out.addAll(duplicates(ctx));
    out.addAll(notRunning(ctx));
    return out;
  }

  // ---------------------------------------------------------------- no-endpoints

  private List<Finding> noEndpoints(DoctorContext ctx, List<ProxyRules.Turned> turned) {
    Map<String, List<ProxyRules.Turned>> bySpn = group(turned, true);
    if (!bySpn.isEmpty() && ctx.cluster().isEmpty()) {
      ctx.assume(
          "no cluster objects: the EndpointSlices behind Services without endpoints unshown");
    }
    List<Finding> out = new ArrayList<>();
    for (Map.Entry<String, List<ProxyRules.Turned>> e : bySpn.entrySet()) {
      String spn = e.getKey();
      List<Evidence> ev = new ArrayList<>();
      e.getValue().forEach(t -> ev.add(t.evidence()));
      e.getValue().stream().flatMap(t -> t.more().stream()).distinct().forEach(ev::add);
      Severity sev = Severity.WARNING;
      String why = "";
      Optional<ServicePortName> name = find(ctx.cluster(), spn);
      if (name.isPresent()) {
        List<Endpoint> eps = ctx.cluster().get().endpointsOf(name.get());
        ev.add(sliceEvidence(name.get(), eps));
        if (eps.stream().anyMatch(Endpoint::ready)) {
          // The objects list a ready endpoint the rules do not: the rules are stale (a proxy
          // that stopped syncing; kube-proxy-not-running names that), not the Service.
          continue;
        }
        if (eps.isEmpty()) {
          sev = Severity.INFO;
          why =
              " No EndpointSlice lists an endpoint for it: its selector matches no pod, the pods'"
                  + " ports do not match the Service's targetPort name, or it has none by design.";
        } else {
          why =
              " Its EndpointSlices list "
                  + eps.size()
                  + " endpoint(s), none ready: the pods exist but fail their readiness probes.";
        }
      }
      if (failedHere(ctx, e.getValue(), ReasonCode.NO_ENDPOINTS)) {
        sev = Severity.ERROR;
      }
      String dsts =
          String.join(", ", e.getValue().stream().map(ProxyRules.Turned::destination).toList());
      out.add(
          NO_ENDPOINTS.finding(
              sev,
              spn + " has no endpoints: connections to " + dsts + " are refused",
              ev,
              "kube-proxy rejects every new connection to the Service port (ICMP port unreachable,"
                  + " seen as \"connection refused\") until an endpoint is ready."
                  + why,
              "Make the Service's selector match the pods' labels, the targetPort match a"
                  + " containerPort (by number or name), and the pods pass readiness: then"
                  + " `kubectl get endpointslices -l kubernetes.io/service-name="
                  + serviceName(spn)
                  + "` lists ready endpoints and kube-proxy removes the REJECT."));
    }
    return out;
  }

  private static Evidence sliceEvidence(ServicePortName name, List<Endpoint> eps) {
    String cmd =
        "kubectl get endpointslices -n "
            + name.namespace()
            + " -l kubernetes.io/service-name="
            + name.name();
    if (eps.isEmpty()) {
      return Evidence.command(cmd, "no endpoints for port " + name);
    }
    List<String> parts = new ArrayList<>();
    for (Endpoint ep : eps) {
      parts.add(
          ep.address()
              + " (node "
              + (ep.nodeName().isEmpty() ? "?" : ep.nodeName())
              + (ep.ready() ? ", ready" : ", not ready")
              + (ep.terminating() ? ", terminating" : "")
              + ")");
    }
    return Evidence.command(cmd, String.join(", ", parts));
  }

  // ---------------------------------------------------------------- eTP=Local

  private List<Finding> etpLocal(DoctorContext ctx, List<ProxyRules.Turned> turned) {
    Map<String, List<ProxyRules.Turned>> bySpn = group(turned, false);
    if (!bySpn.isEmpty() && ctx.cluster().isEmpty()) {
      ctx.assume("no cluster objects: which nodes have the eTP=Local endpoints is unknown");
    }
    List<Finding> out = new ArrayList<>();
    Optional<String> me = ctx.facts().nodeName();
    for (Map.Entry<String, List<ProxyRules.Turned>> e : bySpn.entrySet()) {
      String spn = e.getKey();
      List<Evidence> ev = new ArrayList<>();
      e.getValue().forEach(t -> ev.add(t.evidence()));
      e.getValue().stream().flatMap(t -> t.more().stream()).distinct().forEach(ev::add);
      String dsts =
          String.join(", ", e.getValue().stream().map(ProxyRules.Turned::destination).toList());
      Optional<ServicePortName> name = find(ctx.cluster(), spn);
      List<Endpoint> eps = name.map(n -> ctx.cluster().get().endpointsOf(n)).orElse(List.of());
      // An endpoint whose pod lives here (by this node's routes) while the proxy drops as if it
      // had none: the proxy's node name is not the endpoints'.
      List<Evidence> here = new ArrayList<>();
      Set<String> theirNames = new TreeSet<>();
      for (Endpoint ep : eps) {
        if (!ep.ready() || (me.isPresent() && me.get().equals(ep.nodeName()))) {
          // Named for this node already: a drop despite it is not a naming problem.
          continue;
        }
        Optional<String> dev = ProxyRules.localPodDevice(ctx.node(), ep.ip());
        boolean own = ProxyRules.isNodeAddress(ctx.node(), ep.ip());
        if (dev.isPresent() || own) {
          theirNames.add(ep.nodeName().isEmpty() ? "(none)" : ep.nodeName());
          here.add(
              own
                  ? ctx.files().at("ip-addr.json", 0, ep.ip() + " is an address of this node")
                  : ctx.files()
                      .at(
                          "ip-route.json",
                          0,
                          ProxyRules.routeTo(ctx.node(), ep.ip()).map(ProxyRulesCheck::route).get()
                              + " (endpoint "
                              + ep.ip()
                              + " is a pod on this node)"));
        }
      }
      Set<String> withEndpoints = new TreeSet<>();
      eps.stream()
          .filter(Endpoint::ready)
          .forEach(ep -> withEndpoints.add(ep.nodeName().isEmpty() ? "(none)" : ep.nodeName()));
      if (!here.isEmpty()) {
        ev.add(sliceEvidence(name.get(), eps));
        ev.addAll(here);
        nameEvidence(ctx).ifPresent(ev::add);
        out.add(
            ETP_LOCAL_NAME_MISMATCH.finding(
                spn
                    + " has an endpoint on this node, but its nodeName is "
                    + String.join(", ", theirNames)
                    + (me.isPresent()
                        ? " while the proxy runs as node \"" + me.get() + "\""
                        : ", not the proxy's node name")
                    + ": external traffic to "
                    + dsts
                    + " is dropped",
                ev,
                "With externalTrafficPolicy=Local kube-proxy sends external traffic only to"
                    + " endpoints whose nodeName equals its own node name (--hostname-override,"
                    + " else the hostname). Here the pod runs on this node, but the names differ,"
                    + " so the proxy counts no local endpoint and drops every external packet"
                    + " (and its health-check node port answers 503, so a load balancer takes"
                    + " the node out).",
                "Run kube-proxy with --hostname-override (or hostnameOverride in its config)"
                    + " equal to this node's Node name ("
                    + String.join(", ", theirNames)
                    + "), as kubelet registered it; or remove the override if the hostname is"
                    + " already that name."));
        continue;
      }
      String who;
      // Objects that list no endpoint at all (a pasted Service table alone) do not say where the
      // endpoints are; the node's own rules may, with a pasted pods table placing them on nodes.
      Optional<EndpointNodes.Located> byRules =
          withEndpoints.isEmpty() && (name.isEmpty() || ctx.cluster().get().totalEndpoints() == 0)
              ? EndpointNodes.fromRules(ctx, spn)
              : Optional.empty();
      if (byRules.isPresent()) {
        who = byRules.get().who();
        ev.addAll(byRules.get().evidence());
      } else if (name.isEmpty()) {
        who = "which nodes have endpoints is unknown without the cluster's objects";
      } else if (withEndpoints.isEmpty() && ctx.cluster().get().totalEndpoints() == 0) {
        who = "which nodes have endpoints is unknown: the cluster objects given list no endpoints";
      } else if (withEndpoints.isEmpty()) {
        who = "no node has a ready endpoint";
      } else {
        who = "its endpoints are on " + String.join(", ", withEndpoints);
        ev.add(sliceEvidence(name.get(), eps));
      }
      out.add(
          ETP_LOCAL_NO_LOCAL.finding(
              spn
                  + " has externalTrafficPolicy=Local and no endpoint on this node"
                  + me.map(n -> " (" + n + ")").orElse("")
                  + ": external traffic to "
                  + dsts
                  + " is dropped here; "
                  + who,
              ev,
              "This is what eTP=Local asks for: external clients keep their source address, so"
                  + " only nodes with a local endpoint answer; the others drop the packet (no"
                  + " refusal, the client times out) and fail the health-check node port so a"
                  + " load balancer avoids them. The node itself and its pods still reach the"
                  + " Service through all endpoints.",
              "Send external traffic only to the nodes that have endpoints (a load balancer with"
                  + " the Service's health-check node port does), or set"
                  + " externalTrafficPolicy: Cluster if the client's source address need not be"
                  + " kept."));
    }
    return out;
  }

  /**
   * The evidence of the proxy's own node name: node.yaml's line when the file says it, else the
   * proxy's command line (its proxy-process.txt line on a bundle, /proc/PID/cmdline live).
   */
  private static Optional<Evidence> nameEvidence(DoctorContext ctx) {
    Optional<String> ps = ctx.files().text(ProxyProcessFacts.FILE);
    if (ps.isEmpty()) {
      return ctx.facts()
          .nodeName()
          .flatMap(n -> ctx.files().first("node.yaml", l -> l.strip().startsWith("nodeName")));
    }
    // The flag ProxyFlags.merge takes the name from: --hostname-override first.
    return ProxyFlags.evidence(ctx.files(), "--hostname-override")
        .or(() -> ProxyFlags.evidence(ctx.files(), "--node-name"))
        .or(
            () ->
                ProxyFlags.commandLine(
                    ctx.files(), "no --hostname-override (the node name is the hostname)"));
  }

  private static String route(NodeState.Route r) {
    return r.dst()
        + (r.gateway().isEmpty() ? "" : " via " + r.gateway())
        + (r.dev().isEmpty() ? "" : " dev " + r.dev());
  }

  // ---------------------------------------------------------------- hairpin

  private List<Finding> hairpin(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    Set<String> endpoints = endpointIps(ctx);
    // Bridges that have a Service endpoint behind them.
    Map<String, Set<String>> bridges = new LinkedHashMap<>();
    for (String ip : endpoints) {
      ProxyRules.localPodDevice(ctx.node(), ip)
          .filter(dev -> ctx.node().interfaces().stream().anyMatch(i -> i.master().equals(dev)))
          .ifPresent(dev -> bridges.computeIfAbsent(dev, k -> new TreeSet<>()).add(ip));
    }
    String brnf = ctx.node().sysctls().get("net.bridge.bridge-nf-call-iptables");
    if (!bridges.isEmpty() && brnf != null && brnf.strip().equals("0")) {
      // Without br_netfilter the hairpin is routed, not bridged back out of its port.
      return out;
    }
    Optional<String> links = ctx.files().text("bridge-link.json");
    if (!bridges.isEmpty() && links.isPresent()) {
      JsonNode root;
      try {
        root = new ObjectMapper().readTree(links.get());
      } catch (IOException e) {
        root = null;
      }
      if (root != null && root.isArray()) {
        for (Map.Entry<String, Set<String>> br : bridges.entrySet()) {
          List<Evidence> off = new ArrayList<>();
          List<String> offDevs = new ArrayList<>();
          boolean known = false;
          for (JsonNode port : root) {
            if (!port.path("master").asText().equals(br.getKey())) {
              continue;
            }
            if (!port.has("hairpin")) {
              continue;
            }
            known = true;
            if (!port.path("hairpin").asBoolean()) {
              String dev = port.path("ifname").asText();
              // A name from the file goes into the advised command only if it is a device name.
              offDevs.add(dev.matches("[A-Za-z0-9_.@-]{1,15}") ? dev : "DEV");
              String text = dev + " master " + br.getKey() + " hairpin off";
              off.add(
                  ctx.files().isLive()
                      ? Evidence.command("bridge -d link show dev " + dev, text)
                      : ctx.files().at("bridge-link.json", 0, text));
            }
          }
          if (!known) {
            ctx.assume("bridge-link.json without hairpin flags (`bridge -d -j link`): unchecked");
          }
          if (off.isEmpty()) {
            continue;
          }
          // kubelet's --hairpin-mode=promiscuous-bridge leaves the ports' hairpin off and relies on
          // the bridge being promiscuous; on the kernel (HairpinPromiscuousBridgeLabTest) the
          // hairpin still times out, so a promiscuous bridge is shown, never taken as a fix. The
          // PROMISC flag `ip addr` prints is the one kubelet sets (ip link set promisc on).
          boolean promisc = promiscuous(ctx, br.getKey());
          if (promisc) {
            String text = br.getKey() + " promiscuous";
            off.add(
                ctx.files().isLive()
                    ? Evidence.command("ip -d link show dev " + br.getKey(), text)
                    : ctx.files().at("ip-addr.json", 0, text));
          }
          out.add(
              HAIRPIN.finding(
                  off.size()
                      + " port(s) of "
                      + br.getKey()
                      + " have hairpin mode off: a pod behind them that reaches a Service whose"
                      + " endpoint it is itself gets no reply",
                  off,
                  "A pod connecting to its own Service is DNATed back to itself; with"
                      + " bridge-nf-call-iptables the bridge then has to send the frame out of"
                      + " the port it came in by, which it refuses unless the port is in hairpin"
                      + " mode. The SYN is lost and the connection times out. Endpoints behind "
                      + br.getKey()
                      + ": "
                      + String.join(", ", br.getValue())
                      + "."
                      + (promisc
                          ? " "
                              + br.getKey()
                              + " is promiscuous (kubelet --hairpin-mode=promiscuous-bridge),"
                              + " which does not bring the frame back: the SYN is lost all the"
                              + " same."
                          : ""),
                  "Turn hairpin on for the pods' ports (kubelet --hairpin-mode=hairpin-veth, the"
                      + " CNI bridge plugin's \"hairpinMode\": true; now: "
                      + String.join(
                          "; ",
                          offDevs.stream()
                              .distinct()
                              .limit(4)
                              .map(d -> "`ip link set " + d + " type bridge_slave hairpin on`")
                              .toList())
                      + "); a promiscuous bridge is no substitute."));
        }
      }
    } else if (!bridges.isEmpty()) {
      ctx.assume("no bridge-link.json: hairpin mode of the pods' bridge ports unchecked");
    }
    out.addAll(sepWithoutHairpinMasquerade(ctx));
    return out;
  }

  private static boolean promiscuous(DoctorContext ctx, String dev) {
    Optional<String> addr = ctx.files().text("ip-addr.json");
    if (addr.isEmpty() || !addr.get().strip().startsWith("[")) {
      return false;
    }
    try {
      for (JsonNode i : new ObjectMapper().readTree(addr.get())) {
        if (i.path("ifname").asText().equals(dev)) {
          for (JsonNode f : i.path("flags")) {
            if (f.asText().equals("PROMISC")) {
              return true;
            }
          }
        }
      }
    } catch (IOException e) {
      return false;
    }
    return false;
  }

  /**
   * kube-proxy's endpoint chain marks traffic from the endpoint itself for masquerade, so the
   * hairpinned reply comes back through the node: a KUBE-SEP chain without that rule cannot.
   */
  private List<Finding> sepWithoutHairpinMasquerade(DoctorContext ctx) {
    List<Evidence> ev = new ArrayList<>();
    InputCoverage cov = InputCoverage.of(ctx);
    for (ProxyRules.Backend b : ProxyRules.backends(ctx)) {
      Optional<Table> nat = b.table("nat");
      if (nat.isEmpty()) {
        continue;
      }
      for (Map.Entry<String, List<Rule>> c : nat.get().chains().entrySet()) {
        if (!c.getKey().startsWith("KUBE-SEP-")) {
          continue;
        }
        if (!cov.chain(b.file(), "nat", c.getKey())) {
          // A grepped fragment may show the DNAT without the chain's masquerade rule.
          if (c.getValue().stream().anyMatch(r -> r.target().equals("DNAT"))) {
            ctx.assume(
                c.getKey()
                    + " is not shown whole in "
                    + b.file()
                    + " ("
                    + cov.partial(b.file())
                    + "): its hairpin masquerade rule not checked");
          }
          continue;
        }
        for (Rule r : c.getValue()) {
          if (!r.target().equals("DNAT")) {
            continue;
          }
          Optional<String> to = r.option("--to-destination").map(o -> o.text());
          if (to.isEmpty()) {
            continue;
          }
          String ip = to.get().replaceAll(":\\d+$", "");
          boolean masq =
              c.getValue().stream()
                  .anyMatch(
                      m ->
                          m.target().equals("KUBE-MARK-MASQ")
                              && m.param("-s")
                                  .filter(p -> !p.negated())
                                  .map(p -> p.value().text().replace("/32", ""))
                                  .filter(ip::equals)
                                  .isPresent());
          if (!masq) {
            ev.add(ProxyRules.cite(ctx, b.file(), r));
          }
        }
      }
    }
    if (ev.isEmpty()) {
      return List.of();
    }
    return List.of(
        HAIRPIN.finding(
            Severity.ERROR,
            ev.size()
                + " endpoint chain(s) DNAT without marking the endpoint's own traffic for"
                + " masquerade",
            ev,
            "When the endpoint itself connects to the Service and is chosen, the packet returns to"
                + " it with its own address as source; its reply goes straight to itself and the"
                + " connection never completes. kube-proxy writes `-s <endpoint>/32 -j"
                + " KUBE-MARK-MASQ` first in every KUBE-SEP chain for this.",
            "Let kube-proxy rewrite its rules (restart it; do not edit KUBE-SEP chains by hand),"
                + " or add `-A <KUBE-SEP chain> -s <endpoint>/32 -j KUBE-MARK-MASQ` before the"
                + " DNAT."));
  }

  private static Set<String> endpointIps(DoctorContext ctx) {
    Set<String> ips = new LinkedHashSet<>();
    ctx.cluster()
        .ifPresent(
            s ->
                s.services()
                    .keySet()
                    .forEach(n -> s.endpointsOf(n).forEach(ep -> ips.add(ep.ip()))));
    for (ProxyRules.Backend b : ProxyRules.backends(ctx)) {
      b.table("nat")
          .ifPresent(
              t ->
                  t.rules().stream()
                      .filter(r -> r.chain().startsWith("KUBE-SEP-") && r.target().equals("DNAT"))
                      .forEach(
                          r ->
                              r.option("--to-destination")
                                  .ifPresent(o -> ips.add(o.text().replaceAll(":\\d+$", "")))));
    }
    // IPVS mode: the real servers. IpvsLoopBackVmTest found the port's hairpin flag needed there
    // too (the pod's own connection through the ClusterIP timed out with it off).
    ctx.node().ipvs().services().forEach(s -> s.reals().forEach(r -> ips.add(r.address())));
    return ips;
  }

  // ---------------------------------------------------------------- backends, duplicates

  private List<Finding> mixed(DoctorContext ctx) {
    List<ProxyRules.Backend> bs = ProxyRules.backends(ctx);
    if (bs.size() < 2 || bs.stream().anyMatch(b -> b.ruleCount() == 0)) {
      return List.of();
    }
    List<Evidence> ev = new ArrayList<>();
    List<String> kube = new ArrayList<>();
    // The DROP policies of the backend kube-proxy does not write, set back in the advice.
    List<String> policies = new ArrayList<>();
    boolean blocking = false;
    for (ProxyRules.Backend b : bs) {
      String name = b.legacy() ? "iptables-legacy" : "iptables-nft";
      if (b.hasChain("nat", "KUBE-SERVICES")) {
        kube.add(name);
      }
      ctx.files().first(b.file(), l -> l.strip().startsWith("-A ")).ifPresent(ev::add);
      for (Table t : b.rules().tables()) {
        for (var d : t.chainDecls()) {
          if (d.builtin() && "DROP".equals(d.policy())) {
            blocking = true;
            if (!b.hasChain("nat", "KUBE-SERVICES")) {
              policies.add(name + " -t " + t.name() + " -P " + d.name() + " ACCEPT");
            }
            ctx.files()
                .first(b.file(), l -> l.strip().startsWith(":" + d.name() + " DROP"))
                .ifPresent(ev::add);
          }
        }
      }
    }
    Severity sev = blocking && kube.size() == 1 ? Severity.ERROR : Severity.WARNING;
    return List.of(
        MIXED.finding(
            sev,
            "Both iptables-nft and iptables-legacy hold rules"
                + (kube.isEmpty()
                    ? ""
                    : "; kube-proxy's chains are in " + String.join(" and ", kube))
                + (blocking ? ", and a built-in chain's policy is DROP" : ""),
            ev,
            "Every packet traverses both backends' chains at each hook (nft's first, then"
                + " legacy's), and each sees only its own rules: a kube-proxy ACCEPT in one does"
                + " not exempt the packet from a DROP in the other, and chains one tool writes"
                + " are invisible to the other's iptables-save. Whatever Docker, the CNI or a"
                + " firewall wrote with the other binary still applies.",
            "Use one backend on the node: the same iptables (legacy or nft) for kube-proxy, kubelet,"
                + " the CNI and Docker (update-alternatives --set iptables ...), then remove"
                + " the other backend's rules (iptables-legacy-save / iptables-nft-save shows"
                + " them)"
                + (policies.isEmpty() || kube.isEmpty()
                    ? ""
                    : " and set its DROP policies back: `" + String.join("; ", policies) + "`")
                + "."));
  }

  private List<Finding> duplicates(DoctorContext ctx) {
    List<Evidence> ev = new ArrayList<>();
    List<String> firstCopy = new ArrayList<>();
    int dups = 0;
    for (ProxyRules.Backend b : ProxyRules.backends(ctx)) {
      for (Table t : b.rules().tables()) {
        for (Map.Entry<String, List<Rule>> c : t.chains().entrySet()) {
          Map<String, Integer> seen = new LinkedHashMap<>();
          for (Rule r : c.getValue()) {
            seen.merge(r.print(), 1, Integer::sum);
          }
          for (Map.Entry<String, Integer> s : seen.entrySet()) {
            if (s.getValue() > 1) {
              String file = b.file();
              if (ctx.files().isPasted(file) && !twiceInOneBlock(ctx, file, s.getKey())) {
                // Two pasted commands may show the same rule (a grep and a listing of its chain).
                ctx.assume(
                    "a rule of "
                        + c.getKey()
                        + " appears in more than one pasted block, never twice in one: not"
                        + " counted as a duplicate");
                continue;
              }
              dups++;
              if (firstCopy.isEmpty()) {
                firstCopy.add(
                    (b.legacy() ? "iptables-legacy" : "iptables")
                        + " -t "
                        + t.name()
                        + " "
                        + s.getKey().replaceFirst("^-A ", "-D "));
              }
              List<Evidence> lines =
                  ctx.files()
                      .find(
                          file,
                          l ->
                              dev.svcproxy.netfilter.Rule.withoutCounters(l.strip())
                                  .equals(s.getKey()));
              if (lines.isEmpty()) {
                ev.add(ctx.files().at(file, 0, s.getKey() + " (" + s.getValue() + " times)"));
              } else {
                ev.addAll(lines.size() > 4 ? lines.subList(0, 4) : lines);
              }
            }
          }
        }
      }
    }
    if (dups == 0) {
      return List.of();
    }
    // The delete for the first copy, as the node's iptables takes it (the line's -A made -D).
    String delete =
        firstCopy.isEmpty() ? "`iptables -t TABLE -D CHAIN <rule>`" : "`" + firstCopy.get(0) + "`";
    return List.of(
        DUPLICATES.finding(
            dups + " rule(s) appear more than once in their chain",
            ev,
            "The copies after the first never match anything the first did not; they are left"
                + " by something that appends its rules again instead of checking first (a"
                + " script or a second proxy with `iptables -A`, a restarted agent), and they"
                + " make the ruleset grow and slow at every restart. A copy of a jump into"
                + " another tool's chain also keeps that chain alive after its owner removed it.",
            "Find who appends them (`iptables -C` before `-A` in scripts; one proxy per node),"
                + " then delete the extra copies, once per copy ("
                + delete
                + " deletes one)."));
  }

  /**
   * Whether one pasted block (the output of one prompt's command) shows {@code rule} twice: only
   * then is the copy the node's, not the paste's.
   */
  private static boolean twiceInOneBlock(DoctorContext ctx, String file, String rule) {
    String[] lines = ctx.files().text(file).orElse("").split("\n", -1);
    Map<Integer, Integer> perBlock = new LinkedHashMap<>();
    int block = 0;
    for (String l : lines) {
      if (dev.svcproxy.trace.bundle.Prompts.command(l) != null) {
        block++;
      } else if (dev.svcproxy.netfilter.Rule.withoutCounters(l.strip()).equals(rule)
          && perBlock.merge(block, 1, Integer::sum) > 1) {
        return true;
      }
    }
    return false;
  }

  // ---------------------------------------------------------------- proxy not running

  private List<Finding> notRunning(DoctorContext ctx) {
    List<ProxyRules.Backend> bs = ProxyRules.backends(ctx);
    boolean nftTable =
        ctx.node().nftables().tables().stream().anyMatch(t -> t.name().equals("kube-proxy"));
    boolean ipvs = !ctx.node().ipvs().services().isEmpty();
    Optional<ProxyRules.Backend> kube =
        bs.stream()
            .filter(
                b ->
                    b.hasChain("nat", "KUBE-SERVICES")
                        || CANARY_TABLES.stream().anyMatch(t -> b.hasChain(t, CANARY)))
            .findFirst();
    List<Evidence> ev = new ArrayList<>();
    String summary = null;
    Optional<String> ps = ctx.files().text(ProxyProcessFacts.FILE);
    boolean anyRules = kube.isPresent() || nftTable || ipvs;
    boolean services = ctx.cluster().map(c -> !c.services().isEmpty()).orElse(false);
    if (ps.isPresent() && ProxyProcessFacts.parse(ps.get()).isEmpty() && (anyRules || services)) {
      ev.add(
          Evidence.command(
              "ps -e -o pid,netns,args",
              "no kube-proxy or svcproxy run process in this network namespace"));
      kube.flatMap(b -> ctx.files().first(b.file(), l -> l.strip().startsWith(":KUBE-SERVICES ")))
          .ifPresent(ev::add);
      summary =
          anyRules
              ? "No proxy process runs on this node: its Service rules are a dead proxy's and no"
                  + " longer follow the cluster"
              : "No proxy process runs on this node, and it has no Service rules";
    } else if (kube.isPresent()) {
      ProxyRules.Backend b = kube.get();
      List<String> with = new ArrayList<>();
      List<String> without = new ArrayList<>();
      for (String t : CANARY_TABLES) {
        if (b.table(t).isPresent() && b.hasChain(t, CANARY)) {
          with.add(t);
        } else {
          without.add(t);
        }
      }
      boolean natRules = b.hasChain("nat", "KUBE-SERVICES");
      InputCoverage cov = InputCoverage.of(ctx);
      // A table the input does not show whole may hold the canary unseen (a pasted listing of
      // one table, a grepped fragment): only tables shown whole count as without it.
      List<String> unseen = without.stream().filter(t -> !cov.table(b.file(), t)).toList();
      if (!with.isEmpty() && !unseen.isEmpty()) {
        ctx.assume(
            "tables "
                + String.join(", ", unseen)
                + " not shown whole in "
                + b.file()
                + ": whether kube-proxy's canary is there not checked");
      }
      without.removeAll(unseen);
      boolean natKnown = natRules || cov.table(b.file(), "nat");
      if (!with.isEmpty() && (!without.isEmpty() || !natKnown)) {
        for (String t : with) {
          ev.add(canaryLine(ctx, b.file(), t));
        }
        ev.add(
            ctx.files()
                .at(
                    b.file(),
                    0,
                    "no "
                        + CANARY
                        + " in "
                        + String.join(", ", without)
                        + (natRules ? "" : "; no KUBE-SERVICES in nat")));
        summary =
            "kube-proxy's canary chain is gone from "
                + String.join(", ", without)
                + ": the rules were flushed and no running proxy recreated them";
      }
    } else if (!nftTable && !ipvs && ctx.cluster().isPresent()) {
      int n = ctx.cluster().get().services().size();
      InputCoverage cov = InputCoverage.of(ctx);
      List<String> unseen =
          bs.stream().map(ProxyRules.Backend::file).filter(f -> !cov.table(f, "nat")).toList();
      // A capture writes the nft ruleset wherever nft is installed, and kube-proxy's nftables
      // mode needs nft: a bundle without it has no nftables-mode rules. A paste says nothing.
      boolean nftKnown =
          ctx.files().isLive()
              || bs.stream().noneMatch(b -> ctx.files().isPasted(b.file()))
              || ctx.files().has("nft-ruleset.json")
              || ctx.files().has("nft-ruleset.txt")
              || ctx.facts().proxyMode().filter(m -> !m.equals("nftables")).isPresent();
      if (n > 0 && !bs.isEmpty() && (!unseen.isEmpty() || !nftKnown)) {
        // The rules may be in what the input does not show.
        ctx.assume(
            (unseen.isEmpty()
                    ? "no nft ruleset (nftables mode's rules unknown)"
                    : "no whole nat table in " + String.join(", ", unseen))
                + ": whether the node has proxy rules for the cluster's Services not checked");
      } else if (n > 0 && !bs.isEmpty()) {
        for (ProxyRules.Backend b : bs) {
          ev.add(ctx.files().at(b.file(), 0, "no KUBE-SERVICES chain, no " + CANARY + " chain"));
        }
        if (ctx.files().has("nft-ruleset.json")) {
          ev.add(ctx.files().at("nft-ruleset.json", 0, "no table kube-proxy"));
        }
        summary = "The cluster has " + n + " Service port(s) but the node has no proxy rules";
      }
    }
    if (summary == null) {
      return List.of();
    }
    return List.of(
        NOT_RUNNING.finding(
            summary,
            ev,
            "Services work on a node only while its proxy keeps the kernel's rules equal to the"
                + " cluster's Services and EndpointSlices. Without a running proxy, rules that a"
                + " firewall reload or `iptables -F` removed stay gone (ClusterIPs are routed"
                + " out as if they were real hosts and time out), and new Services, new or"
                + " removed endpoints never reach this node.",
            "Start the proxy (kube-proxy DaemonSet pod: `kubectl -n kube-system get pods -o wide"
                + " -l k8s-app=kube-proxy`, its logs; or `svcproxy run`); it recreates its"
                + " chains on its first sync. Make firewall reloads leave the KUBE-* chains"
                + " alone."));
  }

  private static Evidence canaryLine(DoctorContext ctx, String file, String table) {
    // The canary's declaration inside the table's section of the file.
    Optional<String> text = ctx.files().text(file);
    if (text.isPresent()) {
      String[] lines = text.get().split("\n", -1);
      boolean in = false;
      for (int i = 0; i < lines.length; i++) {
        String l = lines[i].strip();
        if (l.startsWith("*")) {
          in = l.equals("*" + table);
        } else if (in && l.startsWith(":" + CANARY + " ")) {
          return ctx.files().at(file, i + 1, table + ": " + l);
        }
      }
    }
    return ctx.files().at(file, 0, table + ": :" + CANARY);
  }

  // ---------------------------------------------------------------- shared

  private static Map<String, List<ProxyRules.Turned>> group(
      List<ProxyRules.Turned> turned, boolean reject) {
    Map<String, List<ProxyRules.Turned>> out = new LinkedHashMap<>();
    for (ProxyRules.Turned t : turned) {
      if (t.reject() == reject) {
        out.computeIfAbsent(t.servicePort(), k -> new ArrayList<>()).add(t);
      }
    }
    return out;
  }

  private static Optional<ServicePortName> find(Optional<ProxyState> cluster, String spn) {
    if (cluster.isEmpty()) {
      return Optional.empty();
    }
    for (ServicePortInfo s : cluster.get().services().values()) {
      if (s.name().toString().equals(spn)) {
        return Optional.of(s.name());
      }
    }
    return Optional.empty();
  }

  private static String serviceName(String spn) {
    int slash = spn.indexOf('/');
    int colon = spn.indexOf(':');
    return spn.substring(slash + 1, colon > slash ? colon : spn.length());
  }

  /**
   * Whether the packet asked about ends at one of these rules with {@code reason}: then it is not a
   * condition of the node to know about but the failure at hand. A step is one of the rules when it
   * is that rule of that chain (iptables; a rule that marks for a later drop counts when the trace
   * is then dropped), or a no-endpoint map lookup for the packet's own address, protocol and port
   * (nftables), compared field by field.
   */
  private static boolean failedHere(
      DoctorContext ctx, List<ProxyRules.Turned> rules, ReasonCode reason) {
    Optional<PacketSpec> p = ctx.packet();
    if (p.isEmpty()) {
      return false;
    }
    for (Outcome o : ctx.trace(p.get()).outcomes()) {
      if (o.delivered()) {
        continue;
      }
      for (Step s : o.steps()) {
        for (ProxyRules.Turned t : rules) {
          boolean iptables =
              t.rule() != null
                  && !s.table().startsWith("nft")
                  && s.chain().equals(t.rule().chain())
                  && s.text().equals(t.rule().print());
          // nftables: the step is the vmap lookup; the element names the destination.
          boolean nft =
              t.rule() == null
                  && s.reasonCode() == reason
                  && s.table().startsWith("nft")
                  && t.dest().covers(p.get().dst(), p.get().dport(), p.get().proto());
          if (iptables || nft) {
            return true;
          }
        }
      }
    }
    return false;
  }
}
