package dev.svcproxy.ipvs;

import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.ParseWarning;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the connection table `ipvsadm -Lnc` prints (ipvsadm 1.31): a title line, a header line,
 * then one line per entry: {@code TCP 01:50 TIME_WAIT 10.0.0.2:42610 10.96.0.10:80
 * 10.244.1.10:8080}. IPv6 entries ({@code [fd00::1]:80}) are skipped with a warning: the tracer is
 * IPv4 only.
 */
public final class IpvsConnectionCodec {
  private static final Pattern ENTRY =
      Pattern.compile("^(\\S+)\\s+(\\d+):(\\d{2})\\s+(\\S+)\\s+(\\S+)\\s+(\\S+)\\s+(\\S+)$");
  private static final Pattern ENDPOINT = Pattern.compile("^(\\d+\\.\\d+\\.\\d+\\.\\d+):(\\d+)$");

  private IpvsConnectionCodec() {}

  /** The entries read and the lines skipped (file:line and why). */
  public record Result(List<IpvsConnection> connections, List<ParseWarning> warnings) {
    public Result {
      connections = List.copyOf(connections);
      warnings = List.copyOf(warnings);
    }
  }

  /** Reads leniently: a line that is not an entry is skipped and named in the warnings. */
  public static Result parse(String text, String source) {
    List<IpvsConnection> out = new ArrayList<>();
    List<ParseWarning> warnings = new ArrayList<>();
    int n = 0;
    for (String raw : text.split("\r?\n", -1)) {
      n++;
      String line = raw.strip();
      if (line.isEmpty()
          || line.equals("IPVS connection entries")
          || line.startsWith("pro expire state")) {
        continue;
      }
      Matcher m = ENTRY.matcher(line);
      if (!m.matches()) {
        warnings.add(new ParseWarning(source, n, "not an ipvsadm -Lnc entry: " + line));
        continue;
      }
      if (line.contains("[")) {
        warnings.add(new ParseWarning(source, n, "IPv6 entry skipped: " + line));
        continue;
      }
      String proto = m.group(1);
      if (!List.of("TCP", "UDP", "SCTP", "IP").contains(proto)) {
        warnings.add(new ParseWarning(source, n, "unknown protocol " + proto + ": " + line));
        continue;
      }
      String[] c = endpoint(m.group(5));
      String[] v = endpoint(m.group(6));
      String[] d = endpoint(m.group(7));
      if (c == null || v == null || d == null) {
        String bad = c == null ? m.group(5) : v == null ? m.group(6) : m.group(7);
        warnings.add(new ParseWarning(source, n, "not an IPv4 address:port: " + bad));
        continue;
      }
      int seconds = Integer.parseInt(m.group(2)) * 60 + Integer.parseInt(m.group(3));
      out.add(
          new IpvsConnection(
              proto,
              seconds,
              m.group(4),
              c[0],
              Integer.parseInt(c[1]),
              v[0],
              Integer.parseInt(v[1]),
              d[0],
              Integer.parseInt(d[1])));
    }
    return new Result(out, warnings);
  }

  /** Reads strictly: the first line that is not an entry is an error naming its file and line. */
  public static List<IpvsConnection> parseStrict(String text, String source) {
    Result r = parse(text, source);
    if (!r.warnings().isEmpty()) {
      throw new IllegalArgumentException(r.warnings().get(0).toString());
    }
    return r.connections();
  }

  private static String[] endpoint(String s) {
    Matcher m = ENDPOINT.matcher(s);
    if (!m.matches() || !Ip.isIpv4(m.group(1)) || m.group(2).length() > 5) {
      return null;
    }
    int port = Integer.parseInt(m.group(2));
    return port > 65535 ? null : new String[] {m.group(1), m.group(2)};
  }
}
