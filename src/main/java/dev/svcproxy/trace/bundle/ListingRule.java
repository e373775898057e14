package dev.svcproxy.trace.bundle;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns one rule line of an `iptables -L -n [-v] [--line-numbers]` listing back into the rule as
 * iptables-save writes it ("-A CHAIN ..."), for the matches and targets kube-proxy, Docker, flannel
 * and Calico use. What it cannot read is returned as {@code unread}, never dropped silently.
 */
final class ListingRule {
  /**
   * The rule as iptables-save text, its counters ("[p:b]" or null), text not understood, and the
   * host names in its source or destination column (a listing without -n; null when none).
   */
  record Converted(String saveText, String counters, String unread, String names) {}

  private static final Pattern NUM = Pattern.compile("\\d+[KMGTP]?");
  private static final Pattern OPT = Pattern.compile("--|-f|!f");
  private static final Pattern ICMP_TYPE =
      Pattern.compile(
          "!?(any|\\d+|echo-\\S+|\\S+-unreachable|time-exceeded|ttl-\\S+|parameter-problem|redirect"
              + "|router-\\S+|timestamp-\\S+|source-quench|address-mask-\\S+)");
  private static final Map<String, String> PROTOCOLS =
      Map.of(
          "1",
          "icmp",
          "6",
          "tcp",
          "17",
          "udp",
          "132",
          "sctp",
          "136",
          "udplite",
          "47",
          "gre",
          "50",
          "esp",
          "51",
          "ah",
          "4",
          "ipencap",
          "58",
          "ipv6-icmp");

  private ListingRule() {}

  /** Expands a listing counter ("12K" is about 12,000: iptables divides by 1000 per unit). */
  static long count(String s) {
    char last = s.charAt(s.length() - 1);
    int unit = "KMGTP".indexOf(last);
    if (unit < 0) {
      return Long.parseLong(s);
    }
    long n = Long.parseLong(s.substring(0, s.length() - 1));
    for (int i = 0; i <= unit; i++) {
      n *= 1000;
    }
    return n;
  }

  /** A token of the line with where it starts and ends. */
  private record Tok(String s, int start, int end) {}

  private static List<Tok> tokens(String line) {
    List<Tok> out = new ArrayList<>();
    Matcher m = Pattern.compile("\\S+").matcher(line);
    while (m.find()) {
      out.add(new Tok(m.group(), m.start(), m.end()));
    }
    return out;
  }

  /**
   * Converts a rule line of chain {@code chain}; {@code verbose} when the listing has the pkts,
   * bytes, in and out columns. Throws IllegalArgumentException when the columns are not there.
   */
  static Converted convert(String line, String chain, boolean verbose, boolean lineNumbers) {
    List<Tok> t = tokens(line);
    int i = 0;
    if (lineNumbers) {
      i++;
    }
    String counters = null;
    if (verbose) {
      if (t.size() < i + 2 || !NUM.matcher(t.get(i).s).matches()) {
        throw new IllegalArgumentException("no packet and byte counters");
      }
      counters = "[" + count(t.get(i).s) + ":" + count(t.get(i + 1).s) + "]";
      i += 2;
    }
    int need = verbose ? 6 : 4;
    if (t.size() < i + need) {
      throw new IllegalArgumentException("too few columns");
    }
    String target = "";
    if (!OPT.matcher(t.get(i + 1).s).matches()) {
      target = t.get(i++).s;
    }
    if (t.size() < i + need || !OPT.matcher(t.get(i + 1).s).matches()) {
      throw new IllegalArgumentException("no prot and opt columns");
    }
    String prot = t.get(i++).s;
    String opt = t.get(i++).s;
    String in = verbose ? t.get(i++).s : "*";
    String out = verbose ? t.get(i++).s : "*";
    String src = t.get(i++).s;
    Tok dstTok = t.get(i);
    String dst = dstTok.s;
    String rest = line.substring(dstTok.end).strip();

    StringBuilder b = new StringBuilder("-A ").append(chain);
    List<String> names = new ArrayList<>();
    address(b, "-s", src, names);
    address(b, "-d", dst, names);
    iface(b, "-i", in);
    iface(b, "-o", out);
    boolean protNeg = prot.startsWith("!");
    String p = protNeg ? prot.substring(1) : prot;
    p = PROTOCOLS.getOrDefault(p, p.toLowerCase(Locale.ROOT));
    if (!p.equals("0") && !p.equals("all")) {
      b.append(protNeg ? " ! -p " : " -p ").append(p);
    }
    if (opt.equals("-f")) {
      b.append(" -f");
    } else if (opt.equals("!f")) {
      b.append(" ! -f");
    }
    Rest r = new Rest(rest, target);
    String matches = r.matches();
    b.append(matches);
    boolean isGoto = r.isGoto;
    String realTarget = r.realTarget();
    if (!realTarget.isEmpty()) {
      b.append(isGoto ? " -g " : " -j ").append(realTarget);
    }
    b.append(r.targetOptions);
    String unread = r.unread();
    return new Converted(
        b.toString(),
        counters,
        unread.isEmpty() ? null : unread,
        names.isEmpty() ? null : String.join(" ", names));
  }

  /** An address column as iptables -L prints it with -n: digits, dots and a prefix length. */
  private static final Pattern NUMERIC_ADDRESS = Pattern.compile("[\\d.]+(/[\\d.]+)?");

  private static void address(StringBuilder b, String flag, String v, List<String> names) {
    boolean neg = v.startsWith("!");
    String a = neg ? v.substring(1) : v;
    // Without -n iptables prints 0.0.0.0/0 as "anywhere" (xtables' ipv4 address-to-name).
    if ((a.equals("0.0.0.0/0") || a.equals("anywhere")) && !neg) {
      return;
    }
    if (a.equals("anywhere")) {
      a = "0.0.0.0/0";
    } else if (!NUMERIC_ADDRESS.matcher(a).matches()) {
      // A resolved host or network name: its address is not in the paste. Left out of the rule,
      // which the reader keeps but does not evaluate.
      names.add(v);
      return;
    }
    if (!a.contains("/")) {
      a = a + "/32";
    }
    b.append(neg ? " ! " : " ").append(flag).append(' ').append(a);
  }

  private static void iface(StringBuilder b, String flag, String v) {
    // -v without -n prints a wildcard interface as "any" instead of "*".
    if (v.equals("*") || v.equals("any")) {
      return;
    }
    boolean neg = v.startsWith("!");
    b.append(neg ? " ! " : " ").append(flag).append(' ').append(neg ? v.substring(1) : v);
  }

  /** Reads the match and target text after the destination column. */
  private static final class Rest {
    private final String text;
    private final String target;
    private int pos;
    private final StringBuilder matches = new StringBuilder();
    private final StringBuilder targetOptions = new StringBuilder();
    private final List<String> unread = new ArrayList<>();
    private String targetOverride;
    private boolean isGoto;

    Rest(String text, String target) {
      this.text = text;
      this.target = target;
    }

    String realTarget() {
      return targetOverride != null ? targetOverride : target;
    }

    String unread() {
      return String.join(" ", unread);
    }

    private String peek() {
      skipSpace();
      if (pos >= text.length()) {
        return null;
      }
      int e = pos;
      if (text.charAt(pos) == '"') {
        e = text.indexOf('"', pos + 1);
        e = e < 0 ? text.length() : e + 1;
      } else {
        while (e < text.length() && !Character.isWhitespace(text.charAt(e))) {
          e++;
        }
      }
      return text.substring(pos, e);
    }

    private String next() {
      String s = peek();
      if (s != null) {
        pos += s.length();
      }
      return s;
    }

    private void skipSpace() {
      while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) {
        pos++;
      }
    }

    private boolean at(String s) {
      return s.equals(peek());
    }

    private void m(String s) {
      matches.append(' ').append(s);
    }

    private void tgt(String s) {
      targetOptions.append(' ').append(s);
    }

    String matches() {
      String s;
      while ((s = peek()) != null) {
        int before = pos;
        if (!match(s) && !targetText(s)) {
          unread.add(next());
        } else if (pos == before) {
          unread.add(next());
        }
      }
      return matches.toString();
    }

    /** Reads one match starting at token {@code s}; false when {@code s} starts none. */
    private boolean match(String s) {
      boolean neg = false;
      if (s.equals("!")) {
        int save = pos;
        next();
        String n = peek();
        if (n != null
            && (n.equals("match-set")
                || n.equals("recent:")
                || n.equals("ctstate")
                || n.equals("state")
                || n.startsWith("ct"))) {
          neg = true;
          s = n;
        } else {
          pos = save;
          return false;
        }
      }
      if (s.equals("[goto]")) {
        next();
        isGoto = true;
        return true;
      }
      if (s.equals("/*")) {
        int end = text.indexOf("*/", pos + 2);
        if (end < 0) {
          return false;
        }
        String c = text.substring(pos + 2, end).strip();
        pos = end + 2;
        m("-m comment --comment " + quote(c));
        return true;
      }
      switch (s) {
        case "tcp", "udp", "sctp", "udplite" -> {
          next();
          m("-m " + s);
          ports();
          return true;
        }
        case "multiport" -> {
          next();
          String kind = next();
          String v = next();
          if (kind == null || v == null) {
            return false;
          }
          boolean n = v.startsWith("!");
          m("-m multiport" + (n ? " !" : "") + " --" + kind + " " + (n ? v.substring(1) : v));
          return true;
        }
        case "mark", "connmark" -> {
          next();
          if (!at("match")) {
            unread.add(s);
            return true;
          }
          next();
          boolean n = at("!");
          if (n) {
            next();
          }
          m("-m " + s + (n ? " !" : "") + " --mark " + next());
          return true;
        }
        case "ADDRTYPE" -> {
          next();
          if (at("match")) {
            next();
          }
          StringBuilder a = new StringBuilder("-m addrtype");
          while (true) {
            String k = peek();
            if ("src-type".equals(k) || "dst-type".equals(k)) {
              next();
              String v = next();
              boolean n = v.startsWith("!");
              a.append(n ? " ! --" : " --").append(k).append(' ').append(n ? v.substring(1) : v);
            } else if ("limit-in".equals(k)) {
              next();
              a.append(" --limit-iface-in");
            } else if ("limit-out".equals(k)) {
              next();
              a.append(" --limit-iface-out");
            } else {
              break;
            }
          }
          m(a.toString());
          return true;
        }
        case "state" -> {
          next();
          m("-m state" + (neg ? " !" : "") + " --state " + next());
          return true;
        }
        case "statistic" -> {
          next();
          return statistic();
        }
        case "match-set" -> {
          next();
          String name = next();
          String dirs = next();
          m("-m set" + (neg ? " !" : "") + " --match-set " + name + " " + dirs);
          if (at("return-nomatch")) {
            next();
            m("--return-nomatch");
          }
          return true;
        }
        case "recent:" -> {
          next();
          return recent(neg);
        }
        case "icmptype" -> {
          next();
          String type = next();
          if (at("code")) {
            next();
            type = type + "/" + next();
          }
          m("-m icmp --icmp-type " + type);
          return true;
        }
        case "icmp" -> {
          next();
          String k = peek();
          boolean n = k != null && k.startsWith("!");
          if (k != null && (k.equals("!type") || k.equals("type"))) {
            next();
            String type = next();
            if (at("code")) {
              next();
              type = type + "/" + next();
            }
            m("-m icmp" + (n ? " !" : "") + " --icmp-type " + type);
          } else if (k != null && ICMP_TYPE.matcher(k).matches()) {
            next();
            m("-m icmp" + (n ? " ! --icmp-type " + k.substring(1) : " --icmp-type " + k));
          } else {
            m("-m icmp");
          }
          return true;
        }
        case "PHYSDEV" -> {
          next();
          if (at("match")) {
            next();
          }
          StringBuilder a = new StringBuilder("-m physdev");
          while (true) {
            String k = peek();
            if ("!".equals(k)) {
              next();
              a.append(" !");
            } else if (k != null && k.startsWith("--physdev-")) {
              next();
              a.append(' ').append(k);
              if (k.equals("--physdev-in") || k.equals("--physdev-out")) {
                a.append(' ').append(next());
              }
            } else {
              break;
            }
          }
          m(a.toString());
          return true;
        }
        case "policy" -> {
          next();
          if (!at("match")) {
            unread.add(s);
            return true;
          }
          next();
          StringBuilder a = new StringBuilder("-m policy");
          while (true) {
            String k = peek();
            if ("dir".equals(k) || "pol".equals(k)) {
              next();
              a.append(" --").append(k).append(' ').append(next());
            } else if ("strict".equals(k)) {
              next();
              a.append(" --strict");
            } else {
              break;
            }
          }
          m(a.toString());
          return true;
        }
        case "source", "destination" -> {
          int save = pos;
          next();
          if (!at("IP")) {
            pos = save;
            return false;
          }
          next();
          next(); // "range"
          String v = next();
          boolean n = v.equals("!");
          if (n) {
            v = next();
          }
          m(
              "-m iprange"
                  + (n ? " !" : "")
                  + (s.equals("source") ? " --src-range " : " --dst-range ")
                  + v);
          return true;
        }
        case "rpfilter" -> {
          next();
          StringBuilder a = new StringBuilder("-m rpfilter");
          while (true) {
            String k = peek();
            if ("loose".equals(k)
                || "validmark".equals(k)
                || "accept-local".equals(k)
                || "invert".equals(k)) {
              next();
              a.append(" --").append(k);
            } else {
              break;
            }
          }
          m(a.toString());
          return true;
        }
        case "nfacct-name" -> {
          next();
          m("-m nfacct --nfacct-name " + next());
          return true;
        }
        case "limit:" -> {
          next();
          String rate = null;
          String burst = null;
          while (true) {
            String k = peek();
            if ("avg".equals(k)) {
              next();
              rate = next();
            } else if ("burst".equals(k)) {
              next();
              burst = next();
            } else {
              break;
            }
          }
          m(
              "-m limit --limit "
                  + rate
                  + (burst != null && !burst.equals("5") ? " --limit-burst " + burst : ""));
          return true;
        }
        default -> {
          if (s.startsWith("ct")) {
            return conntrack(neg);
          }
          return false;
        }
      }
    }

    /** tcp/udp/sctp options as -L prints them: spt:80, dpts:1:100, flags:0x17/0x02. */
    private void ports() {
      while (true) {
        String k = peek();
        if (k == null) {
          return;
        }
        int colon = k.indexOf(':');
        String key = colon < 0 ? k : k.substring(0, colon);
        String v = colon < 0 ? "" : k.substring(colon + 1);
        boolean n = v.startsWith("!");
        if (n) {
          v = v.substring(1);
        }
        String flag =
            switch (key) {
              case "spt", "spts" -> "--sport";
              case "dpt", "dpts" -> "--dport";
              case "flags" -> "--tcp-flags";
              default -> null;
            };
        if (k.startsWith("option=")) {
          next();
          String o = k.substring("option=".length());
          boolean on = o.startsWith("!");
          m((on ? "! " : "") + "--tcp-option " + (on ? o.substring(1) : o));
          continue;
        }
        if (flag == null || colon < 0) {
          return;
        }
        next();
        if (flag.equals("--tcp-flags")) {
          String[] f = v.split("/");
          v = tcpFlags(Integer.decode(f[0])) + " " + tcpFlags(Integer.decode(f[1]));
        }
        m((n ? "! " : "") + flag + " " + v);
      }
    }

    private static String tcpFlags(int bits) {
      if (bits == 0) {
        return "NONE";
      }
      String[] names = {"FIN", "SYN", "RST", "PSH", "ACK", "URG"};
      List<String> out = new ArrayList<>();
      for (int i = 0; i < names.length; i++) {
        if ((bits & (1 << i)) != 0) {
          out.add(names[i]);
        }
      }
      return String.join(",", out);
    }

    private boolean conntrack(boolean firstNeg) {
      StringBuilder a = new StringBuilder("-m conntrack");
      boolean neg = firstNeg;
      while (true) {
        String k = peek();
        if ("!".equals(k)) {
          int save = pos;
          next();
          String n = peek();
          if (n == null || !n.startsWith("ct")) {
            pos = save;
            break;
          }
          neg = true;
          continue;
        }
        if (k == null || !k.startsWith("ct")) {
          break;
        }
        next();
        a.append(neg ? " ! --" : " --").append(k).append(' ').append(next());
        neg = false;
      }
      m(a.toString());
      return true;
    }

    private boolean statistic() {
      if (!at("mode")) {
        unread.add("statistic");
        return true;
      }
      next();
      String mode = next();
      boolean n = at("!");
      if (n) {
        next();
      }
      StringBuilder a = new StringBuilder("-m statistic --mode " + mode);
      if ("random".equals(mode) && at("probability")) {
        next();
        a.append(n ? " ! --probability " : " --probability ").append(next());
      } else if ("nth".equals(mode) && at("every")) {
        next();
        a.append(n ? " ! --every " : " --every ").append(next());
        String packet = "0";
        if (at("packet")) {
          next();
          packet = next();
        }
        a.append(" --packet ").append(packet);
      }
      m(a.toString());
      return true;
    }

    private boolean recent(boolean neg) {
      String cmd = "";
      String seconds = null;
      boolean reap = false;
      String hits = null;
      boolean ttl = false;
      String name = "DEFAULT";
      String side = null;
      String mask = null;
      while (true) {
        String k = peek();
        if (k == null) {
          break;
        }
        switch (k) {
          case "SET" -> cmd = "--set";
          case "CHECK" -> cmd = "--rcheck";
          case "UPDATE" -> cmd = "--update";
          case "REMOVE" -> cmd = "--remove";
          case "reap" -> reap = true;
          case "TTL-Match" -> ttl = true;
          case "seconds:", "hit_count:", "name:", "side:", "mask:" -> {
            next();
            String v = next();
            switch (k) {
              case "seconds:" -> seconds = v;
              case "hit_count:" -> hits = v;
              case "name:" -> name = v;
              case "side:" -> side = v;
              default -> mask = v;
            }
            continue;
          }
          default -> {
            k = null;
          }
        }
        if (k == null) {
          break;
        }
        next();
      }
      StringBuilder a = new StringBuilder("-m recent");
      if (neg) {
        a.append(" !");
      }
      if (!cmd.isEmpty()) {
        a.append(' ').append(cmd);
      }
      if (seconds != null) {
        a.append(" --seconds ").append(seconds);
      }
      if (reap) {
        a.append(" --reap");
      }
      if (hits != null) {
        a.append(" --hitcount ").append(hits);
      }
      if (ttl) {
        a.append(" --rttl");
      }
      a.append(" --name ").append(name);
      if (mask != null) {
        a.append(" --mask ").append(mask);
      }
      if ("source".equals(side)) {
        a.append(" --rsource");
      } else if ("dest".equals(side)) {
        a.append(" --rdest");
      }
      m(a.toString());
      return true;
    }

    /** Reads the target's own text (after the matches); false when {@code s} starts none. */
    private boolean targetText(String s) {
      switch (realTarget()) {
        case "DNAT", "SNAT" -> {
          if (s.startsWith("to:")) {
            next();
            tgt((target.equals("DNAT") ? "--to-destination " : "--to-source ") + s.substring(3));
            return true;
          }
          return flagWord(s, "random", "random-fully", "persistent");
        }
        case "MASQUERADE", "REDIRECT" -> {
          if (s.equals("masq") || s.equals("redir")) {
            next();
            if (at("ports:") || at("ports")) {
              next();
            }
            tgt("--to-ports " + next());
            return true;
          }
          return flagWord(s, "random", "random-fully");
        }
        case "REJECT" -> {
          if (s.equals("reject-with")) {
            next();
            tgt("--reject-with " + next());
            return true;
          }
          return false;
        }
        case "MARK", "CONNMARK" -> {
          if (!s.equals(realTarget())) {
            return false;
          }
          next();
          String op = next();
          if (op == null) {
            return true;
          }
          if (s.equals("CONNMARK") && (op.equals("save") || op.equals("restore"))) {
            tgt("--" + op + "-mark --nfmask 0xffffffff --ctmask 0xffffffff");
            return true;
          }
          String v = next();
          String xmark = xmark(op, v);
          if (xmark == null) {
            unread.add(s + " " + op + " " + v);
          } else {
            tgt("--set-xmark " + xmark);
          }
          return true;
        }
        case "CT" -> {
          if (s.equals("NOTRACK")) {
            next();
            targetOverride = "NOTRACK";
            return true;
          }
          if (s.equals("CT") || s.equals("notrack")) {
            next();
            if (s.equals("notrack")) {
              tgt("--notrack");
            } else if (at("notrack")) {
              next();
              tgt("--notrack");
            }
            return true;
          }
          return false;
        }
        case "LOG" -> {
          if (!s.equals("LOG")) {
            return false;
          }
          next();
          String level = "4";
          String prefix = null;
          while (true) {
            String k = peek();
            if ("flags".equals(k)) {
              next();
              next();
            } else if ("level".equals(k)) {
              next();
              level = next();
            } else if ("prefix".equals(k)) {
              next();
              prefix = next();
            } else {
              break;
            }
          }
          if (prefix != null) {
            tgt("--log-prefix " + prefix);
          }
          if (!level.equals("4")) {
            tgt("--log-level " + level);
          }
          return true;
        }
        case "TCPMSS" -> {
          if (!s.equals("TCPMSS")) {
            return false;
          }
          next();
          if (at("clamp")) {
            next();
            next();
            next();
            tgt("--clamp-mss-to-pmtu");
          } else if (at("set")) {
            next();
            tgt("--set-mss " + next());
          }
          return true;
        }
        default -> {
          return false;
        }
      }
    }

    private boolean flagWord(String s, String... words) {
      for (String w : words) {
        if (s.equals(w)) {
          next();
          tgt("--" + w);
          return true;
        }
      }
      return false;
    }

    /** MARK's listing forms back to --set-xmark value/mask, as iptables-save prints it. */
    private static String xmark(String op, String v) {
      if (v == null) {
        return null;
      }
      try {
        switch (op) {
          case "or" -> {
            return v + "/" + v;
          }
          case "xor" -> {
            return v + "/0x0";
          }
          case "set" -> {
            return v + "/0xffffffff";
          }
          case "and" -> {
            long m = ~Long.decode(v) & 0xFFFFFFFFL;
            return "0x0/0x" + Long.toHexString(m);
          }
          case "xset" -> {
            return v;
          }
          default -> {
            return null;
          }
        }
      } catch (NumberFormatException e) {
        return null;
      }
    }
  }

  /** Quotes as iptables-save quotes a comment. */
  static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
