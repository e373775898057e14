package dev.svcproxy.doctor;

/**
 * One piece of evidence behind a finding: where it is ({@code "iptables-save.txt:42"}, or the
 * command that shows it on a live node, {@code "sysctl net.ipv4.ip_forward"}) and what it says
 * there (the rule, route, address, entry or value, as the source prints it).
 */
public record Evidence(String where, String text) {
  public Evidence {
    where = where == null ? "" : where;
    text = text == null ? "" : text;
  }

  /** A line of a bundle file; line 0 when the file says it as a whole (or the line is unknown). */
  public static Evidence at(String file, int line, String text) {
    return new Evidence(line > 0 ? file + ":" + line : file, text);
  }

  /** What a command shows (live nodes, or facts no file holds). */
  public static Evidence command(String command, String text) {
    return new Evidence("$ " + command, text);
  }

  @Override
  public String toString() {
    return where.isEmpty() ? text : where + ": " + text;
  }
}
