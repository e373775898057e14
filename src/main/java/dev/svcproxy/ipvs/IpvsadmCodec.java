package dev.svcproxy.ipvs;

import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.ParseWarning;
import dev.svcproxy.netfilter.SafeText;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads `ipvsadm -S -n` (ipvsadm-save) text into an {@link IpvsTable} and writes `ipvsadm -R` input
 * and single-command argv lists; one place knows ipvsadm's rule syntax.
 */
public final class IpvsadmCodec {

  /** The table read and the lines that were skipped. */
  public record Result(IpvsTable table, List<ParseWarning> warnings) {
    public Result {
      warnings = List.copyOf(warnings);
    }
  }

  /** A line ipvsadm's save format cannot hold. */
  public static final class IpvsadmSyntaxException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public IpvsadmSyntaxException(String message) {
      super(message);
    }
  }

  private IpvsadmCodec() {}

  /**
   * Parses save text leniently: lines that cannot be understood, and real servers of services never
   * added, become warnings naming {@code source} and the line.
   */
  public static Result parseSave(String text, String source) {
    Map<String, VirtualServer> servers = new LinkedHashMap<>();
    Map<String, List<RealServer>> reals = new LinkedHashMap<>();
    List<ParseWarning> warnings = new ArrayList<>();
    String[] lines = text.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      try {
        Command c = parseCommand(line);
        String key = c.server().key();
        if (c.real() == null) {
          if (servers.putIfAbsent(key, c.server()) != null) {
            warnings.add(new ParseWarning(source, i + 1, "virtual server " + key + " added twice"));
          } else {
            reals.put(key, new ArrayList<>());
          }
        } else if (!servers.containsKey(key)) {
          warnings.add(
              new ParseWarning(
                  source,
                  i + 1,
                  "real server of virtual server " + key + ", which was never added"));
        } else {
          reals.get(key).add(c.real());
        }
      } catch (IllegalArgumentException e) {
        warnings.add(new ParseWarning(source, i + 1, e.getMessage()));
      }
    }
    List<IpvsService> services = new ArrayList<>();
    servers.forEach((k, vs) -> services.add(new IpvsService(vs, reals.get(k))));
    return new Result(new IpvsTable(services), warnings);
  }

  /** Parses save text that must be whole: the first bad line throws, naming source:line. */
  public static IpvsTable parseSaveStrict(String text, String source) {
    Result r = parseSave(text, source);
    if (!r.warnings().isEmpty()) {
      throw new IpvsadmSyntaxException(r.warnings().get(0).toString());
    }
    return r.table();
  }

  /** `ipvsadm -R` input that adds every service and real server of {@code table}. */
  public static String printRestore(IpvsTable table) {
    StringBuilder b = new StringBuilder();
    for (IpvsService s : table.services()) {
      b.append(String.join(" ", addService(s.server()))).append('\n');
      for (RealServer r : s.reals()) {
        b.append(String.join(" ", addReal(s.server(), r))).append('\n');
      }
    }
    return b.toString();
  }

  /** "-A -t VIP:PORT -s SCHED [-p T [-M MASK]] [-b FLAGS] [-o]". */
  public static List<String> addService(VirtualServer vs) {
    return serviceArgv("-A", vs);
  }

  /** "-E ..." with the same options as {@link #addService}. */
  public static List<String> editService(VirtualServer vs) {
    return serviceArgv("-E", vs);
  }

  /** "-D -t VIP:PORT". */
  public static List<String> deleteService(VirtualServer vs) {
    return List.of("-D", vs.kind().option(), vs.target());
  }

  /** "-a -t VIP:PORT -r RIP:RPORT -m -w W [-x U] [-y L]". */
  public static List<String> addReal(VirtualServer vs, RealServer rs) {
    return realArgv("-a", vs, rs);
  }

  /** "-e ..." with the same options as {@link #addReal}. */
  public static List<String> editReal(VirtualServer vs, RealServer rs) {
    return realArgv("-e", vs, rs);
  }

  /** "-d -t VIP:PORT -r RIP:RPORT". */
  public static List<String> deleteReal(VirtualServer vs, RealServer rs) {
    return List.of("-d", vs.kind().option(), vs.target(), "-r", rs.target());
  }

  private static List<String> serviceArgv(String command, VirtualServer vs) {
    List<String> a = new ArrayList<>(List.of(command, vs.kind().option(), vs.target()));
    a.add("-s");
    a.add(vs.scheduler());
    if (vs.persistenceTimeout() > 0) {
      a.add("-p");
      a.add(Integer.toString(vs.persistenceTimeout()));
      if (!vs.persistenceNetmask().isEmpty()) {
        a.add("-M");
        a.add(vs.persistenceNetmask());
      }
    }
    if (!vs.schedulerFlags().isEmpty()) {
      a.add("-b");
      a.add(String.join(",", vs.schedulerFlags()));
    }
    if (vs.onePacket()) {
      a.add("-o");
    }
    return List.copyOf(a);
  }

  private static List<String> realArgv(String command, VirtualServer vs, RealServer rs) {
    List<String> a =
        new ArrayList<>(
            List.of(
                command,
                vs.kind().option(),
                vs.target(),
                "-r",
                vs.kind() == VirtualServer.Kind.FWMARK && rs.port() == 0
                    ? rs.address()
                    : rs.target(),
                rs.method().option(),
                "-w",
                Integer.toString(rs.weight())));
    if (rs.upperThreshold() > 0) {
      a.add("-x");
      a.add(Integer.toString(rs.upperThreshold()));
    }
    if (rs.lowerThreshold() > 0) {
      a.add("-y");
      a.add(Integer.toString(rs.lowerThreshold()));
    }
    return List.copyOf(a);
  }

  private record Command(VirtualServer server, RealServer real) {}

  private static Command parseCommand(String line) {
    SafeText.line("ipvsadm rule", line);
    List<String> t = Arrays.asList(line.split("\\s+"));
    String cmd = t.get(0);
    if (!cmd.equals("-A") && !cmd.equals("-a")) {
      throw new IllegalArgumentException("not an ipvsadm-save line (expected -A or -a): " + line);
    }
    VirtualServer.Kind kind = null;
    String target = null;
    String scheduler = null;
    int persistence = 0;
    String netmask = "";
    List<String> flags = List.of();
    boolean onePacket = false;
    String realTarget = null;
    RealServer.ForwardMethod method = null;
    Integer weight = null;
    int upper = 0;
    int lower = 0;
    for (int i = 1; i < t.size(); i++) {
      String o = t.get(i);
      switch (o) {
        case "-t", "--tcp-service" -> {
          kind = VirtualServer.Kind.TCP;
          target = value(t, ++i, o);
        }
        case "-u", "--udp-service" -> {
          kind = VirtualServer.Kind.UDP;
          target = value(t, ++i, o);
        }
        case "--sctp-service" -> {
          kind = VirtualServer.Kind.SCTP;
          target = value(t, ++i, o);
        }
        case "-f", "--fwmark-service" -> {
          kind = VirtualServer.Kind.FWMARK;
          target = value(t, ++i, o);
        }
        case "-s", "--scheduler" -> scheduler = value(t, ++i, o);
        case "-p", "--persistent" ->
            persistence = number(value(t, ++i, o), o, 0, Integer.MAX_VALUE);
        case "-M", "--netmask" -> netmask = value(t, ++i, o);
        case "-b", "--sched-flags" -> flags = List.of(value(t, ++i, o).split(","));
        case "-o", "--ops" -> onePacket = true;
        case "-r", "--real-server" -> realTarget = value(t, ++i, o);
        case "-m", "--masquerading" -> method = RealServer.ForwardMethod.MASQ;
        case "-g", "--gatewaying" -> method = RealServer.ForwardMethod.ROUTE;
        case "-i", "--ipip" -> method = RealServer.ForwardMethod.TUNNEL;
        case "-w", "--weight" -> weight = number(value(t, ++i, o), o, 0, 65535);
        case "-x", "--u-threshold" -> upper = number(value(t, ++i, o), o, 0, Integer.MAX_VALUE);
        case "-y", "--l-threshold" -> lower = number(value(t, ++i, o), o, 0, Integer.MAX_VALUE);
        // Tunnel encapsulation details and persistence engines do not change where a packet
        // goes in the tracer's model; they are read so that a real dump parses whole.
        case "--tun-type", "--tun-port", "--pe" -> value(t, ++i, o);
        case "--tun-nocsum", "--tun-csum", "--tun-remcsum" -> {}
        default -> throw new IllegalArgumentException("unknown ipvsadm option " + o);
      }
    }
    if (kind == null) {
      throw new IllegalArgumentException("no service (-t, -u, --sctp-service or -f): " + line);
    }
    VirtualServer vs;
    if (kind == VirtualServer.Kind.FWMARK) {
      long mark = number(target, "-f", 1, 0xffffffffL);
      vs =
          new VirtualServer(
              kind, "", 0, mark, scheduler(scheduler, cmd), flags, persistence, netmask, onePacket);
    } else {
      HostPort hp = hostPort(target, "service");
      vs =
          new VirtualServer(
              kind,
              hp.host(),
              hp.port(),
              0,
              scheduler(scheduler, cmd),
              flags,
              persistence,
              netmask,
              onePacket);
    }
    if (cmd.equals("-A")) {
      if (realTarget != null) {
        throw new IllegalArgumentException("-A with a real server: " + line);
      }
      return new Command(vs, null);
    }
    if (realTarget == null) {
      throw new IllegalArgumentException("-a without -r: " + line);
    }
    HostPort r =
        kind == VirtualServer.Kind.FWMARK && !realTarget.contains(":")
            ? new HostPort(checkedIp(realTarget), 0)
            : hostPort(realTarget, "real server");
    return new Command(
        vs,
        new RealServer(
            r.host(),
            r.port(),
            method == null ? RealServer.ForwardMethod.ROUTE : method,
            weight == null ? 1 : weight,
            upper,
            lower));
  }

  private static String scheduler(String s, String cmd) {
    // ipvsadm-save always writes -s on -A lines; -a lines do not carry it.
    if (s == null) {
      if (cmd.equals("-A")) {
        throw new IllegalArgumentException("-A without a scheduler (-s)");
      }
      return "rr";
    }
    return s;
  }

  private record HostPort(String host, int port) {}

  private static HostPort hostPort(String s, String what) {
    int colon = s.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException(what + " \"" + s + "\" has no port");
    }
    String host = s.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return new HostPort(checkedIp(host), number(s.substring(colon + 1), what + " port", 0, 65535));
  }

  private static String checkedIp(String host) {
    if (!Ip.isIp(host)) {
      throw new IllegalArgumentException("\"" + host + "\" is not an IP address (save with -n)");
    }
    return host;
  }

  private static String value(List<String> t, int i, String option) {
    if (i >= t.size()) {
      throw new IllegalArgumentException(option + " needs a value");
    }
    return t.get(i);
  }

  private static int number(String s, String what, int min, int max) {
    return (int) number(s, what, (long) min, (long) max);
  }

  private static long number(String s, String what, long min, long max) {
    long v;
    try {
      v = Long.parseLong(s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(what + " \"" + s + "\" is not a number");
    }
    if (v < min || v > max) {
      throw new IllegalArgumentException(what + " " + v + " is outside " + min + ".." + max);
    }
    return v;
  }
}
