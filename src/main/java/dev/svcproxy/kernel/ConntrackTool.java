package dev.svcproxy.kernel;

import dev.svcproxy.model.Ip;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.netfilter.ConntrackCodec;
import dev.svcproxy.netfilter.ParseWarning;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The `conntrack` tool (conntrack-tools 1.4.x) as argv: lists the flows of one family and protocol
 * and deletes one flow by its exact original tuple and reply source.
 */
public final class ConntrackTool {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);
  private static final Pattern DELETED =
      Pattern.compile("(\\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted");

  /** A listing: the flows read and the lines that were not flows. */
  public record Listing(List<ConntrackCodec.Entry> entries, List<ParseWarning> warnings) {
    public Listing {
      entries = List.copyOf(entries);
      warnings = List.copyOf(warnings);
    }
  }

  private final CommandRunner runner;

  public ConntrackTool(CommandRunner runner) {
    this.runner = runner;
  }

  /** `conntrack -L -f ipv4 -p PROTO -o extended`; throws KernelException when the tool fails. */
  public Listing list(Protocol protocol) {
    CommandResult r = runner.run(listArgv(protocol), null, TIMEOUT).orThrow();
    ConntrackCodec.Result parsed = ConntrackCodec.parse(r.stdout(), "conntrack -L");
    return new Listing(parsed.entries(), parsed.warnings());
  }

  static List<String> listArgv(Protocol protocol) {
    return List.of("conntrack", "-L", "-f", "ipv4", "-p", protocol.lower(), "-o", "extended");
  }

  /**
   * Deletes the one flow {@code e} names and returns how many flows the tool deleted (0 when it was
   * already gone: the tool's exit status 1 with "0 flow entries have been deleted").
   *
   * @throws IllegalArgumentException when a field of {@code e} is not fit for an argv
   * @throws KernelException when the tool fails otherwise
   */
  public int delete(ConntrackCodec.Entry e) {
    CommandResult r = runner.run(deleteArgv(e), null, TIMEOUT);
    Matcher m = DELETED.matcher(r.stderr() + "\n" + r.stdout());
    Integer n = m.find() ? Integer.valueOf(m.group(1)) : null;
    if (r.ok()) {
      return n == null ? 1 : n;
    }
    if (r.exitCode() == 1 && n != null && n == 0) {
      return 0;
    }
    r.orThrow();
    return 0;
  }

  /**
   * {@code conntrack -D -f ipv4 -p PROTO --orig-src .. --orig-dst .. --sport .. --dport ..
   * --reply-src .. --reply-port-src .. [-w ZONE]}: the full original tuple names one flow, the
   * reply source makes sure it is still the stale one (a flow re-created meanwhile towards a
   * serving endpoint is not touched).
   */
  public static List<String> deleteArgv(ConntrackCodec.Entry e) {
    Protocol p = Protocol.ofNumber(e.protocolNumber());
    if (p == null) {
      throw new IllegalArgumentException("protocol " + e.protocolNumber() + " has no ports");
    }
    ConntrackCodec.Tuple o = e.original();
    ConntrackCodec.Tuple r = e.reply();
    List<String> argv = new ArrayList<>(List.of("conntrack", "-D", "-f", "ipv4", "-p", p.lower()));
    argv.addAll(List.of("--orig-src", ipv4(o.src()), "--orig-dst", ipv4(o.dst())));
    argv.addAll(List.of("--sport", port(o.sport()), "--dport", port(o.dport())));
    argv.addAll(List.of("--reply-src", ipv4(r.src()), "--reply-port-src", port(r.sport())));
    if (e.zone() != null) {
      if (e.zone() < 0 || e.zone() > 65535) {
        throw new IllegalArgumentException("zone " + e.zone() + " is not a conntrack zone");
      }
      argv.addAll(List.of("-w", Integer.toString(e.zone())));
    }
    return argv;
  }

  private static String ipv4(String ip) {
    if (!Ip.isIpv4(ip)) {
      throw new IllegalArgumentException(ip + " is not an IPv4 address");
    }
    return ip;
  }

  private static String port(Integer port) {
    if (port == null || port < 0 || port > 65535) {
      throw new IllegalArgumentException(port + " is not a port");
    }
    return Integer.toString(port);
  }
}
