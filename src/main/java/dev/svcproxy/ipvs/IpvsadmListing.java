package dev.svcproxy.ipvs;

import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.ParseWarning;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the service table people paste from `ipvsadm -Ln` (ipvsadm 1.31), and from its `--stats`,
 * `--rate` and `--persistent-conn` variants. The plain listing has everything the tracer needs
 * (scheduler, its flags, persistence, forwarding method, weight); `--stats` and `--rate` list only
 * the addresses, so the table read from them says so ({@link Result#complete()} false) and assumes
 * rr, weight 1 and masquerading, as kube-proxy configures them.
 */
public final class IpvsadmListing {
  /** Which variant of the listing the header line announced. */
  public enum Format {
    /** `ipvsadm -Ln`: scheduler, flags; Forward, Weight, ActiveConn, InActConn. */
    PLAIN,
    /** `ipvsadm -Ln --stats`: Conns, InPkts, OutPkts, InBytes, OutBytes. */
    STATS,
    /** `ipvsadm -Ln --rate`: CPS, InPPS, OutPPS, InBPS, OutBPS. */
    RATE,
    /** `ipvsadm -Ln --persistent-conn`: scheduler, flags; Weight, PersistConn, ActiveConn, ... */
    PERSISTENT_CONN,
    /**
     * `ipvsadm -Ln --thresholds`: scheduler, flags; Forward, Weight, Uthreshold, Lthreshold, ...
     */
    THRESHOLDS
  }

  /**
   * The table read, which variant it came from, whether schedulers, weights and methods were in it,
   * and the lines skipped.
   */
  public record Result(
      IpvsTable table, Format format, boolean complete, List<ParseWarning> warnings) {
    public Result {
      warnings = List.copyOf(warnings);
    }
  }

  private static final Pattern SERVICE =
      Pattern.compile("^(TCP|UDP|SCTP)\\s+(\\S+):(\\d+)(?:\\s+(.*))?$");
  private static final Pattern FWM_SERVICE = Pattern.compile("^FWM\\s+(\\d+)(?:\\s+(.*))?$");
  private static final Pattern REAL = Pattern.compile("^->\\s+(\\S+):(\\d+)(?:\\s+(.*))?$");

  private IpvsadmListing() {}

  /** True when {@code text} looks like an `ipvsadm -L` listing rather than `ipvsadm -S` rules. */
  public static boolean isListing(String text) {
    for (String line : text.split("\r?\n")) {
      String t = line.strip();
      if (t.startsWith("IP Virtual Server version") || t.startsWith("Prot LocalAddress")) {
        return true;
      }
      if (t.startsWith("-A ") || t.startsWith("-a ")) {
        return false;
      }
    }
    return false;
  }

  /** Reads leniently: a line that cannot be understood is skipped and named in the warnings. */
  public static Result parse(String text, String source) {
    List<ParseWarning> warnings = new ArrayList<>();
    List<IpvsService> services = new ArrayList<>();
    Format format = Format.PLAIN;
    VirtualServer current = null;
    List<RealServer> reals = new ArrayList<>();
    int n = 0;
    for (String raw : text.split("\r?\n", -1)) {
      n++;
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith("IP Virtual Server version")) {
        continue;
      }
      if (line.startsWith("Prot LocalAddress:Port")) {
        format = format(line);
        continue;
      }
      if (line.startsWith("-> RemoteAddress:Port")) {
        continue;
      }
      try {
        Matcher real = REAL.matcher(line);
        if (real.matches()) {
          if (current == null) {
            warnings.add(new ParseWarning(source, n, "real server before any service: " + line));
            continue;
          }
          reals.add(real(real, format));
          continue;
        }
        VirtualServer vs = service(line, format);
        if (vs == null) {
          warnings.add(new ParseWarning(source, n, "not an ipvsadm -Ln line: " + line));
          continue;
        }
        if (current != null) {
          services.add(new IpvsService(current, reals));
        }
        current = vs;
        reals = new ArrayList<>();
      } catch (IllegalArgumentException e) {
        warnings.add(new ParseWarning(source, n, e.getMessage() + ": " + line));
      }
    }
    if (current != null) {
      services.add(new IpvsService(current, reals));
    }
    boolean complete = format != Format.STATS && format != Format.RATE;
    return new Result(new IpvsTable(services), format, complete, warnings);
  }

  /** Reads strictly: the first line that cannot be understood is an error naming file and line. */
  public static IpvsTable parseStrict(String text, String source) {
    Result r = parse(text, source);
    if (!r.warnings().isEmpty()) {
      throw new IllegalArgumentException(r.warnings().get(0).toString());
    }
    return r.table();
  }

  private static Format format(String header) {
    if (header.contains("CPS")) {
      return Format.RATE;
    }
    if (header.contains("Conns")) {
      return Format.STATS;
    }
    if (header.contains("PersistConn")) {
      return Format.PERSISTENT_CONN;
    }
    if (header.contains("Uthreshold")) {
      return Format.THRESHOLDS;
    }
    return Format.PLAIN;
  }

  private static VirtualServer service(String line, Format format) {
    Matcher m = SERVICE.matcher(line);
    Matcher f = FWM_SERVICE.matcher(line);
    VirtualServer.Kind kind;
    String address;
    int port;
    long mark;
    String rest;
    if (m.matches()) {
      kind = VirtualServer.Kind.valueOf(m.group(1));
      address = m.group(2);
      if (!Ip.isIpv4(address)) {
        throw new IllegalArgumentException("not an IPv4 virtual address " + address);
      }
      port = port(m.group(3));
      mark = 0;
      rest = m.group(4) == null ? "" : m.group(4).strip();
    } else if (f.matches()) {
      kind = VirtualServer.Kind.FWMARK;
      address = "";
      port = 0;
      mark = Long.parseLong(f.group(1));
      rest = f.group(2) == null ? "" : f.group(2).strip();
    } else {
      return null;
    }
    if (format == Format.STATS || format == Format.RATE) {
      // Counters only: the scheduler is not listed.
      return new VirtualServer(kind, address, port, mark, "rr", List.of(), 0, "", false);
    }
    String[] t = rest.isEmpty() ? new String[0] : rest.split("\\s+");
    if (t.length == 0) {
      throw new IllegalArgumentException("no scheduler");
    }
    String scheduler = t[0];
    List<String> flags = new ArrayList<>();
    int timeout = 0;
    String mask = "";
    boolean ops = false;
    for (int i = 1; i < t.length; i++) {
      String w = t[i];
      if (w.startsWith("(") && w.endsWith(")")) {
        for (String flag : w.substring(1, w.length() - 1).split(",")) {
          flags.add(flag);
        }
      } else if (w.equals("persistent") && i + 1 < t.length) {
        timeout = number(t[++i], "persistence timeout");
      } else if (w.equals("mask") && i + 1 < t.length) {
        mask = t[++i];
        if (!Ip.isIpv4(mask)) {
          throw new IllegalArgumentException("not a netmask " + mask);
        }
      } else if (w.equals("ops")) {
        ops = true;
      } else {
        throw new IllegalArgumentException("unknown service flag " + w);
      }
    }
    return new VirtualServer(kind, address, port, mark, scheduler, flags, timeout, mask, ops);
  }

  private static RealServer real(Matcher m, Format format) {
    String address = m.group(1);
    if (!Ip.isIpv4(address)) {
      throw new IllegalArgumentException("not an IPv4 real server address " + address);
    }
    int port = port(m.group(2));
    String[] t = m.group(3) == null ? new String[0] : m.group(3).strip().split("\\s+");
    return switch (format) {
      case STATS, RATE -> RealServer.masq(address, port, 1);
      case PERSISTENT_CONN -> {
        need(t, 1);
        yield RealServer.masq(address, port, number(t[0], "weight"));
      }
      case PLAIN, THRESHOLDS -> {
        need(t, 2);
        yield new RealServer(
            address,
            port,
            method(t[0]),
            number(t[1], "weight"),
            format == Format.THRESHOLDS ? number(t[2], "upper threshold") : 0,
            format == Format.THRESHOLDS ? number(t[3], "lower threshold") : 0);
      }
    };
  }

  private static void need(String[] t, int n) {
    if (t.length < n) {
      throw new IllegalArgumentException("real server line with too few columns");
    }
  }

  /** The Forward column: "Local" is a masquerading real server on a local address. */
  private static RealServer.ForwardMethod method(String s) {
    return switch (s.toLowerCase(Locale.ROOT)) {
      case "masq", "local" -> RealServer.ForwardMethod.MASQ;
      case "route" -> RealServer.ForwardMethod.ROUTE;
      case "tunnel" -> RealServer.ForwardMethod.TUNNEL;
      default -> throw new IllegalArgumentException("unknown forwarding method " + s);
    };
  }

  private static int port(String s) {
    int p = number(s, "port");
    if (p > 65535) {
      throw new IllegalArgumentException("port " + s + " out of range");
    }
    return p;
  }

  private static int number(String s, String what) {
    if (!s.matches("\\d{1,9}")) {
      throw new IllegalArgumentException("not a " + what + ": " + s);
    }
    return Integer.parseInt(s);
  }
}
