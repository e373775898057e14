package dev.svcproxy.kernel.ipvs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.ipvs.IpvsadmCodec;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.KernelException;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.ParseWarning;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The IPVS side of the kernel, in batches: `ipvsadm -S -n` / `-R`, `ipset save` / `restore`, `ip
 * -batch` on the dummy device, and /proc/sys reads and writes; every command through the runner.
 */
public final class IpvsKernel {
  private static final Logger LOG = LoggerFactory.getLogger(IpvsKernel.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration BATCH_TIMEOUT = Duration.ofMinutes(5);
  private static final Pattern TIMEOUTS =
      Pattern.compile("Timeout \\(tcp tcpfin udp\\):\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)");

  private final CommandRunner runner;

  public IpvsKernel(CommandRunner runner) {
    this.runner = runner;
  }

  public CommandRunner runner() {
    return runner;
  }

  /** The IPVS table as `ipvsadm -S -n` lists it; lines the codec cannot read are logged. */
  public IpvsTable services() {
    return servicesRead().table();
  }

  /**
   * The IPVS table as `ipvsadm -S -n` lists it, with a warning (logged here) for every line the
   * codec could not read: a virtual server left out of the table is one no diff deletes.
   */
  public IpvsadmCodec.Result servicesRead() {
    CommandResult r = runner.run(List.of("ipvsadm", "-S", "-n")).orThrow();
    IpvsadmCodec.Result res = IpvsadmCodec.parseSave(r.stdout(), "ipvsadm -S -n");
    for (ParseWarning w : res.warnings()) {
      LOG.warn("cannot read the kernel's IPVS table at {}", w);
    }
    return res;
  }

  /**
   * The number of entries of every set, from one `ipset list -t` (headers only); empty when ipset
   * cannot be run.
   */
  public Map<String, Integer> ipsetSizes() {
    CommandResult r = runner.run(List.of("ipset", "list", "-t"));
    Map<String, Integer> out = new LinkedHashMap<>();
    if (!r.ok()) {
      return out;
    }
    String name = null;
    for (String line : r.stdout().lines().toList()) {
      if (line.startsWith("Name: ")) {
        name = line.substring(6).strip();
      } else if (line.startsWith("Number of entries: ") && name != null) {
        try {
          out.put(name, Integer.parseInt(line.substring(19).strip()));
        } catch (NumberFormatException e) {
          // Not a count; the set is left out and counts as unknown.
        }
      }
    }
    return out;
  }

  /**
   * ActiveConn + InActConn of every real server, keyed "TCP 10.96.0.1:443/10.244.1.5:8080", read
   * from one `ipvsadm -Ln` (the save format has no counters).
   */
  public Map<String, Integer> connections() {
    CommandResult r = runner.run(List.of("ipvsadm", "-L", "-n")).orThrow();
    return parseConnections(r.stdout());
  }

  static Map<String, Integer> parseConnections(String listing) {
    Map<String, Integer> out = new HashMap<>();
    String vs = null;
    for (String line : listing.lines().toList()) {
      String[] f = line.strip().split("\\s+");
      if (f.length >= 2 && List.of("TCP", "UDP", "SCTP", "FWM").contains(f[0])) {
        vs = f[0] + " " + f[1];
      } else if (vs != null && f.length >= 6 && f[0].equals("->")) {
        try {
          out.put(vs + "/" + f[1], Integer.parseInt(f[4]) + Integer.parseInt(f[5]));
        } catch (NumberFormatException e) {
          // The header line "-> RemoteAddress:Port Forward Weight ActiveConn InActConn".
        }
      }
    }
    return out;
  }

  /**
   * Applies `ipvsadm -R` lines. ipvsadm -R goes on after a refused line and exits with the status
   * of the last one only, so anything on stderr counts as a failure.
   */
  public CommandResult restore(List<String> lines) {
    String in = String.join("\n", lines) + "\n";
    return runner.run(List.of("ipvsadm", "-R"), in, BATCH_TIMEOUT);
  }

  /** Removes every virtual server (upstream's cleanup flushes the whole table). */
  public void flush() {
    runner.run(List.of("ipvsadm", "-C")).orThrow();
  }

  /** The tcp, tcpfin and udp timeouts, or empty when they cannot be read. */
  public Optional<int[]> timeouts() {
    CommandResult r = runner.run(List.of("ipvsadm", "-l", "--timeout"));
    Matcher m = TIMEOUTS.matcher(r.stdout());
    if (!r.ok() || !m.find()) {
      return Optional.empty();
    }
    return Optional.of(
        new int[] {
          Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3))
        });
  }

  /** `ipvsadm --set tcp tcpfin udp` (0 leaves that one as it is). */
  public void setTimeouts(int tcp, int tcpFin, int udp) {
    runner
        .run(
            List.of(
                "ipvsadm",
                "--set",
                Integer.toString(tcp),
                Integer.toString(tcpFin),
                Integer.toString(udp)))
        .orThrow();
  }

  /** The sets `ipset save` lists. */
  public List<IpsetCodec.IpSet> ipsets() {
    CommandResult r = runner.run(List.of("ipset", "save")).orThrow();
    return IpsetCodec.parse(r.stdout(), "ipset save").sets();
  }

  /** The names of the sets the kernel holds; empty when ipset cannot be run. */
  public Set<String> ipsetNames() {
    CommandResult r = runner.run(List.of("ipset", "list", "-n"));
    Set<String> out = new LinkedHashSet<>();
    if (r.ok()) {
      r.stdout().lines().map(String::strip).filter(s -> !s.isEmpty()).forEach(out::add);
    }
    return out;
  }

  /** `ipset restore` of {@code lines} ("create ... -exist", "add ...", "del ...", "destroy X"). */
  public CommandResult ipsetRestore(List<String> lines) {
    return runner.run(List.of("ipset", "restore"), String.join("\n", lines) + "\n", BATCH_TIMEOUT);
  }

  /** The IPv4 addresses of {@code device}, or empty when the device does not exist. */
  public Optional<List<String>> addresses(String device) {
    CommandResult r = runner.run(List.of("ip", "-j", "-4", "addr", "show", "dev", device));
    if (!r.ok()) {
      return Optional.empty();
    }
    List<String> out = new ArrayList<>();
    try {
      for (JsonNode link : JSON.readTree(r.stdout())) {
        for (JsonNode a : link.path("addr_info")) {
          if (a.path("family").asText().equals("inet")) {
            out.add(a.path("local").asText());
          }
        }
      }
    } catch (java.io.IOException e) {
      throw new KernelException("cannot read `ip -j addr` of " + device + ": " + e, r);
    }
    return Optional.of(out);
  }

  /**
   * The node's IPv4 addresses on every interface but {@code except} (upstream's
   * GetAllLocalAddressesExcept), from one `ip -j -4 addr show`.
   *
   * @throws KernelException when ip fails or prints what is not its JSON: an empty list would
   *     render no NodePort virtual servers and delete the kernel's
   */
  public List<String> localAddressesExcept(String except) {
    CommandResult r = runner.run(List.of("ip", "-j", "-4", "addr", "show"));
    if (!r.ok()) {
      throw new KernelException("cannot list the node's addresses: " + r.firstErrorLine(), r);
    }
    List<String> out = new ArrayList<>();
    try {
      JsonNode links = JSON.readTree(r.stdout());
      if (links == null || !links.isArray()) {
        throw new KernelException(
            "cannot list the node's addresses: `ip -j addr` printed no list", r);
      }
      for (JsonNode link : links) {
        if (link.path("ifname").asText().equals(except)) {
          continue;
        }
        for (JsonNode a : link.path("addr_info")) {
          if (a.path("family").asText().equals("inet")) {
            out.add(a.path("local").asText());
          }
        }
      }
    } catch (java.io.IOException e) {
      throw new KernelException("cannot read `ip -j addr`: " + e.getMessage(), r);
    }
    return out;
  }

  /** Whether {@code device} exists. */
  public boolean linkExists(String device) {
    return runner.run(List.of("ip", "-o", "link", "show", "dev", device)).ok();
  }

  /** Deletes {@code device}; a missing one is fine. */
  public void deleteLink(String device) {
    runner.run(List.of("ip", "link", "del", device));
  }

  /**
   * `ip -force -batch -`: every line is tried even after a refused one (without -force, ip stops at
   * the first); the exit code is non-zero when any failed.
   */
  public CommandResult ipBatch(List<String> lines) {
    return runner.run(
        List.of("ip", "-force", "-batch", "-"), String.join("\n", lines) + "\n", BATCH_TIMEOUT);
  }

  /**
   * The values of sysctls by key below /proc/sys ("net/ipv4/vs/conntrack"), read in one command;
   * keys the kernel lacks are left out.
   */
  public Map<String, String> sysctls(List<String> keys) {
    Map<String, String> out = new LinkedHashMap<>();
    if (keys.isEmpty()) {
      return out;
    }
    List<String> argv = new ArrayList<>(List.of("grep", "-s", "-H", "-m", "1", "^"));
    keys.forEach(k -> argv.add("/proc/sys/" + k));
    // grep exits 2 when a file is missing; the values it could read are still on stdout.
    CommandResult r = runner.run(argv);
    for (String line : r.stdout().lines().toList()) {
      int colon = line.indexOf(':');
      if (line.startsWith("/proc/sys/") && colon > 0) {
        out.put(line.substring("/proc/sys/".length(), colon), line.substring(colon + 1).strip());
      }
    }
    return out;
  }

  /** Writes sysctls in one `sysctl -w` ("net/ipv4/vs/conntrack=1" form). */
  public void setSysctls(Map<String, String> values) {
    if (values.isEmpty()) {
      return;
    }
    List<String> argv = new ArrayList<>(List.of("sysctl", "-w"));
    values.forEach((k, v) -> argv.add(k + "=" + v));
    runner.run(argv).orThrow();
  }
}
