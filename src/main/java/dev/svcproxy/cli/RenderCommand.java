package dev.svcproxy.cli;

import dev.svcproxy.kernel.CapabilityProbe;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.kernel.KernelCapabilities.Capability;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.render.iptables.IptablesRenderer;
import dev.svcproxy.render.ipvs.IpvsOptions;
import dev.svcproxy.render.ipvs.IpvsRenderer;
import dev.svcproxy.render.ipvs.IpvsSets;
import dev.svcproxy.render.ipvs.IpvsState;
import dev.svcproxy.render.ipvs.IpvsText;
import dev.svcproxy.source.ManifestSource;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Prints the iptables-restore input run would apply; changes nothing. The kernel capabilities that
 * change rules (nfacct counters, --random-fully, tcp_be_liberal) are probed read-only, as run
 * probes them, or stated with --kernel-capabilities; what the probe cannot tell is named on stderr
 * with the rule lines that would differ.
 */
@Command(
    name = "render",
    mixinStandardHelpOptions = true,
    description = {
      "Print the iptables-restore input `run` would apply, without touching the kernel.",
      "It equals what run's first full sync restores into tables without our chains; over"
          + " tables that hold them, run leaves out chains the kernel holds as rendered, and it"
          + " adds the jump rules and canary chains with single iptables commands.",
      "With --mode ipvs it prints everything IPVS mode applies, in sections: each starts with"
          + " one line \"# NAME\" (no other line starts with \"# \") followed by that tool's"
          + " input verbatim: \"# kube-ipvs0 addresses\" (ip -batch), \"# ipset restore\","
          + " \"# ipvsadm -R\", \"# ipvsadm --set\" (only with an --ipvs-*-timeout),"
          + " \"# iptables-restore\" (nat and filter, for --noflush), \"# sysctl\""
          + " (key = value), \"# jump rules\" (iptables arguments, each inserted first, in the"
          + " order listed).",
      "With --mode nftables it prints the nft -f transaction run's first full sync sends to a"
          + " node without the ip kube-proxy table (every chain declared before any rule; run"
          + " loads a large table's regular chains in batches first, then the rest of these"
          + " lines as one transaction)."
    })
final class RenderCommand implements Callable<Integer> {
  private final CommandRunner runner;

  @Mixin ProxyOptions options;

  @Option(
      names = "--kernel-capabilities",
      defaultValue = "probe",
      paramLabel = "CAPS",
      description =
          "probe (default: ask this node read-only, as run would), none, or a comma list of"
              + " nfacct-localhost-nodeports, nfacct-invalid-dropped, random-fully,"
              + " tcp-be-liberal: the capabilities of the node run will run on.")
  String kernelCapabilities;

  @Option(
      names = "--local-addresses",
      split = ",",
      paramLabel = "IP[,IP]",
      description =
          "ipvs mode: the node's addresses outside kube-ipvs0, where NodePort virtual servers"
              + " listen (default: read with `ip -j -4 addr`).")
  List<String> localAddresses;

  @Option(
      names = "--kernel-version",
      paramLabel = "RELEASE",
      description =
          "ipvs mode: the kernel release run will run on, e.g. 5.4.0 (default: `uname -r`);"
              + " conn_reuse_mode is set only on 4.1 to 5.8.")
  String kernelVersion;

  @Spec picocli.CommandLine.Model.CommandSpec spec;

  RenderCommand() {
    this(new ProcessCommandRunner());
  }

  /** A render that probes the node only through {@code runner}. */
  RenderCommand(CommandRunner runner) {
    this.runner = runner;
  }

  @Override
  public Integer call() {
    options.manifestsRequired();
    options.validate(ProxyOptions.MODES);
    if (options.ipvs()) {
      return renderIpvs();
    }
    if (options.nftables()) {
      return renderNftables();
    }
    CapabilityProbe.Prediction stated = parseCapabilities(kernelCapabilities);
    ProxyConfig cfg = options.proxyConfig(runner);
    IptablesOptions opts = options.iptablesOptions();
    ManifestSource.Snapshot snap = new ManifestSource(options.manifestsRequired()).load();
    CapabilityProbe.Prediction p =
        stated != null ? stated : CapabilityProbe.predict(new IptablesKernel(runner));
    String text = new IptablesRenderer(cfg, opts, p.capabilities()).render(snap.state()).text();
    // ManifestSource has logged each problem (stderr) already; stdout is restore text only.
    spec.commandLine().getOut().print(text);
    spec.commandLine().getOut().flush();
    PrintWriter err = spec.commandLine().getErr();
    for (Map.Entry<Capability, String> u : p.unknown().entrySet()) {
      err.println(
          differs(cfg, opts, p.capabilities(), snap.state(), text, u.getKey(), u.getValue()));
    }
    err.flush();
    return 0;
  }

  /** The one {@code nft -f} transaction run's first full sync sends to a node without the table. */
  private int renderNftables() {
    ProxyConfig cfg = options.proxyConfig(runner);
    dev.svcproxy.sync.nftables.NftRender render = NftablesMode.renderer(cfg);
    ManifestSource.Snapshot snap = new ManifestSource(options.manifestsRequired()).load();
    String text = dev.svcproxy.sync.nftables.NftablesProxier.fullLoad(render.render(snap.state()));
    spec.commandLine().getOut().print(text);
    spec.commandLine().getOut().flush();
    return 0;
  }

  private int renderIpvs() {
    CapabilityProbe.Prediction stated = parseCapabilities(kernelCapabilities);
    ProxyConfig cfg = options.proxyConfig(runner);
    IpvsOptions opts = options.ipvsOptions();
    List<String> addrs = localAddresses != null ? checkedAddresses() : readLocalAddresses();
    String kernel = kernelVersion != null ? kernelVersion : uname();
    ManifestSource.Snapshot snap = new ManifestSource(options.manifestsRequired()).load();
    CapabilityProbe.Prediction p =
        stated != null ? stated : CapabilityProbe.predict(new IptablesKernel(runner));
    List<String> refused = new ArrayList<>();
    java.util.function.BiFunction<KernelCapabilities, List<String>, String> render =
        (caps, notes) ->
            IpvsText.print(
                IpvsSets.withoutRefused(
                    new IpvsRenderer(cfg, opts, caps, kernel).render(snap.state(), addrs), notes),
                opts);
    java.util.function.Function<KernelCapabilities, String> text =
        caps -> render.apply(caps, new ArrayList<>());
    String out = render.apply(p.capabilities(), refused);
    spec.commandLine().getOut().print(out);
    spec.commandLine().getOut().flush();
    PrintWriter err = spec.commandLine().getErr();
    // Upstream's proxier logs each entry ipset refuses and goes on; run does the same.
    refused.forEach(err::println);
    for (Map.Entry<Capability, String> u : p.unknown().entrySet()) {
      // IPVS mode's rules depend on --random-fully alone (no nfacct, no INVALID drop rule).
      if (u.getKey() == Capability.RANDOM_FULLY) {
        err.println(
            differs(
                out,
                text.apply(p.capabilities().with(u.getKey(), true)),
                u.getKey(),
                u.getValue()));
      }
    }
    err.flush();
    return 0;
  }

  private List<String> checkedAddresses() {
    for (String a : localAddresses) {
      if (!dev.svcproxy.model.Ip.isIp(a)) {
        throw new IllegalArgumentException("--local-addresses: invalid IP address \"" + a + "\"");
      }
    }
    return List.copyOf(localAddresses);
  }

  /**
   * The node's IPv4 addresses on every interface but kube-ipvs0 (upstream's
   * GetAllLocalAddressesExcept), read-only with `ip -j -4 addr show`; empty when ip fails.
   */
  private List<String> readLocalAddresses() {
    return new IpvsKernel(runner).localAddressesExcept(IpvsState.DUMMY_DEVICE);
  }

  /** The running kernel's release, "" when uname cannot tell. */
  private String uname() {
    CommandResult r = runner.run("uname", "-r");
    return r.ok() ? r.stdout().strip() : "";
  }

  /** The stderr note for a capability the probe could not tell, as for iptables mode. */
  private static String differs(String text, String other, Capability c, String why) {
    Set<String> mine = new LinkedHashSet<>(text.lines().toList());
    Set<String> theirs = new LinkedHashSet<>(other.lines().toList());
    List<String> out = new ArrayList<>();
    out.add(
        "svcproxy render: could not tell whether run would have "
            + c.flagName()
            + " ("
            + why
            + "); rendered without it. "
            + (mine.equals(theirs)
                ? "No rule depends on it here."
                : "With it, run would write these lines differently (or state"
                    + " --kernel-capabilities):"));
    for (String l : mine) {
      if (!theirs.contains(l)) {
        out.add("  - " + l);
      }
    }
    for (String l : theirs) {
      if (!mine.contains(l)) {
        out.add("  + " + l);
      }
    }
    return String.join("\n", out);
  }

  /**
   * What run would write differently if {@code c}, which the probe could not tell, were present:
   * the rule lines of this render it would not write ("-") and those it would write instead ("+").
   */
  private static String differs(
      ProxyConfig cfg,
      IptablesOptions opts,
      KernelCapabilities caps,
      ProxyState state,
      String text,
      Capability c,
      String why) {
    String other = new IptablesRenderer(cfg, opts, caps.with(c, true)).render(state).text();
    return differs(text, other, c, why);
  }

  /** The stated capabilities, or null for "probe". */
  private static CapabilityProbe.Prediction parseCapabilities(String s) {
    String v = s.strip();
    if (v.equals("probe")) {
      return null;
    }
    Set<Capability> caps = EnumSet.noneOf(Capability.class);
    if (!v.equals("none")) {
      for (String part : v.split(",")) {
        try {
          caps.add(Capability.parse(part));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("--kernel-capabilities: " + e.getMessage());
        }
      }
    }
    return CapabilityProbe.Prediction.stated(KernelCapabilities.of(caps));
  }
}
