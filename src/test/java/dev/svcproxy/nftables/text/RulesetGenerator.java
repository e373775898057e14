package dev.svcproxy.nftables.text;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Seeded random rulesets, printed as an nft -f transaction in knftables' style, built from the
 * constructs kube-proxy, firewalld and Docker write. Jumps only go to later chains, so nft never
 * refuses a loop.
 */
final class RulesetGenerator {
  private final Random r;
  private final String family;
  private final String table;
  private final StringBuilder out = new StringBuilder();
  private final int chains;

  private RulesetGenerator(long seed) {
    r = new Random(seed);
    family = r.nextInt(3) == 0 ? "inet" : "ip";
    table = "gen" + seed;
    chains = 2 + r.nextInt(4);
  }

  static String transaction(long seed) {
    return new RulesetGenerator(seed).build();
  }

  private <T> T pick(List<T> l) {
    return l.get(r.nextInt(l.size()));
  }

  private String ip() {
    return "10." + r.nextInt(256) + "." + r.nextInt(256) + "." + (1 + r.nextInt(254));
  }

  private String prefix() {
    int len = 8 + r.nextInt(17);
    long a = (10L << 24) | ((long) r.nextInt(1 << 24));
    a &= len == 0 ? 0 : (0xffffffffL << (32 - len)) & 0xffffffffL;
    return ((a >> 24) & 255)
        + "."
        + ((a >> 16) & 255)
        + "."
        + ((a >> 8) & 255)
        + "."
        + (a & 255)
        + "/"
        + len;
  }

  private int port() {
    return 1 + r.nextInt(65000);
  }

  private String hex() {
    return "0x" + Integer.toHexString(1 + r.nextInt(0xffff));
  }

  private void line(String s) {
    out.append(s).append('\n');
  }

  private String build() {
    String t = family + " " + table;
    line("add table " + t + (r.nextBoolean() ? " { comment \"generated\" ; }" : ""));
    line("add set " + t + " addrs { type ipv4_addr ; comment \"some addresses\" ; }");
    line("add set " + t + " nets { type ipv4_addr ; flags interval ; }");
    line(
        "add set "
            + t
            + " dyn { type ipv4_addr ; flags dynamic,timeout ; timeout "
            + (60 + r.nextInt(20000))
            + "s ; }");
    line("add map " + t + " svc { type ipv4_addr . inet_proto . inet_service : verdict ; }");
    line("add map " + t + " marks { type ipv4_addr : mark ; }");
    line("add set " + t + " typed { typeof ip saddr ; flags interval ; }");
    line("add set " + t + " tuples { type ipv4_addr . inet_proto . inet_service ; }");
    for (int i = 0; i < chains; i++) {
      line("add chain " + t + " c" + i);
    }
    line("add chain " + t + " leaf");
    line(
        "add chain "
            + t
            + " base { type filter hook "
            + pick(List.of("input", "forward", "output", "prerouting"))
            + " priority "
            + pick(List.of("0", "-110", "10", "-150", "50"))
            + " ; }");
    line("add chain " + t + " natpre { type nat hook prerouting priority -100 ; }");
    line("add chain " + t + " natpost { type nat hook postrouting priority 100 ; }");
    for (int i = 0; i < 1 + r.nextInt(4); i++) {
      line("add element " + t + " addrs { " + ip() + " }");
    }
    line("add element " + t + " nets { " + prefix() + " }");
    for (int i = 0; i < 1 + r.nextInt(4); i++) {
      String c = r.nextBoolean() ? " comment \"ns" + i + "/svc:p80\"" : "";
      line(
          "add element "
              + t
              + " svc { "
              + ip()
              + " . "
              + pick(List.of("tcp", "udp"))
              + " . "
              + port()
              + c
              + " : "
              + pick(List.of("goto leaf", "jump leaf", "drop", "accept"))
              + " }");
    }
    line("add element " + t + " marks { " + ip() + " : " + hex() + " }");
    line("add element " + t + " typed { " + prefix() + " , 172.31.0.1-172.31.0.7 }");
    line(
        "add element "
            + t
            + " tuples { "
            + ip()
            + " . tcp . "
            + port()
            + " , "
            + ip()
            + " . udp . "
            + port()
            + " }");
    for (int i = 0; i < 1 + r.nextInt(6); i++) {
      line("add rule " + t + " base " + rule(-1, false));
    }
    for (int c = 0; c < chains; c++) {
      for (int i = 0; i < r.nextInt(6); i++) {
        line("add rule " + t + " c" + c + " " + rule(c, false));
      }
    }
    line("add rule " + t + " leaf " + rule(chains, false));
    for (int i = 0; i < 1 + r.nextInt(3); i++) {
      line("add rule " + t + " natpre " + natRule(true));
      line("add rule " + t + " natpost " + natRule(false));
    }
    if (r.nextInt(3) == 0) {
      line("add rule " + t + " c0 ip saddr 10.9.9.9 drop");
      line("flush chain " + t + " c0");
      line("add rule " + t + " c0 ip saddr 10.9.9.8 accept");
    }
    if (r.nextInt(3) == 0) {
      line("add element " + t + " addrs { 10.99.99.99 }");
      line("delete element " + t + " addrs { 10.99.99.99 }");
    }
    return out.toString();
  }

  private String match() {
    List<String> m =
        new ArrayList<>(
            List.of(
                "ip saddr " + ip(),
                "ip daddr != " + prefix(),
                "ip saddr { " + ip() + ", " + ip() + " }",
                "ip daddr @addrs",
                "ip saddr != @nets",
                "tcp dport " + port(),
                "udp dport { " + port() + ", " + port() + " }",
                "th dport " + (1 + r.nextInt(1000)) + "-" + (1001 + r.nextInt(1000)),
                "meta l4proto " + pick(List.of("tcp", "udp", "icmp")),
                "iifname \"eth" + r.nextInt(3) + "*\"",
                "oifname != \"lo\"",
                "meta mark " + hex(),
                "meta mark & " + hex() + " == " + hex(),
                "mark and 0x4000 == 0",
                "ct state " + pick(List.of("new", "established,related", "invalid", "related,new")),
                "ct state { established, related }",
                "ct status " + pick(List.of("dnat", "snat", "assured")),
                "ct mark " + hex(),
                "ct direction " + pick(List.of("original", "reply")),
                "fib daddr type local",
                "fib saddr type { local, broadcast }",
                "fib daddr type != local",
                "meta pkttype " + pick(List.of("host", "broadcast", "multicast")),
                "icmp type " + pick(List.of("echo-request", "echo-reply")),
                "ip daddr . meta l4proto . th dport @tuples",
                "tcp flags syn",
                "ip saddr { " + prefix() + ", 192.168.0.0/16, 172.16.1.1-172.16.1.9 }",
                "meta l4proto { tcp, udp } th dport " + port(),
                "ip protocol { tcp, udp }",
                "ct mark and " + hex() + " != 0",
                "ip saddr @typed",
                "ip daddr != { " + ip() + " }",
                "tcp flags & (syn | ack) == syn",
                "tcp dport != " + port(),
                "ip ttl < 10",
                "meta mark >= " + hex(),
                "ip protocol tcp tcp dport " + port()));
    if (family.equals("inet")) {
      m.add("ip6 saddr fd00::" + Integer.toHexString(1 + r.nextInt(0xfff)));
    }
    return pick(m);
  }

  /** Two transport protocols no packet has at once ("th" is any with ports). */
  private static boolean conflict(String a, String b) {
    if (a == null || b == null || a.equals(b)) {
      return false;
    }
    return !((a.equals("th") && !b.equals("icmp")) || (b.equals("th") && !a.equals("icmp")))
        || (a.equals("tcp+udp") && !b.equals("th"))
        || (b.equals("tcp+udp") && !a.equals("th"));
  }

  /** The transport protocol a match implies, or null. */
  private static String l4(String m) {
    if (m.contains("{ tcp, udp }")) {
      return "tcp+udp";
    }
    if (m.contains("th dport")) {
      return "th";
    }
    String[] w = m.split(" ");
    return switch (w[0]) {
      case "tcp", "udp", "icmp" -> w[0];
      case "meta" -> w[1].equals("l4proto") ? w[2] : null;
      case "ip" -> w[1].equals("protocol") ? w[2] : null;
      default -> null;
    };
  }

  private String chainAfter(int c) {
    int target = c + 1 + r.nextInt(chains + 1 - c);
    return target >= chains ? "leaf" : "c" + target;
  }

  private String rule(int chain, boolean nat) {
    StringBuilder b = new StringBuilder();
    int n = r.nextInt(3);
    String proto = null;
    String l3 = null;
    for (int i = 0; i < n; i++) {
      String m = match();
      String p = l4(m);
      String q =
          m.startsWith("ip6")
              ? "6"
              : (m.startsWith("ip ") || m.startsWith("icmp") || m.contains("nfproto")) ? "4" : null;
      if (conflict(p, proto) || (q != null && l3 != null && !q.equals(l3))) {
        continue;
      }
      proto = p != null && (proto == null || proto.equals("th")) ? p : proto;
      l3 = q != null ? q : l3;
      b.append(m).append(' ');
    }
    if (r.nextInt(3) == 0) {
      String st =
          pick(
              List.of(
                  "counter ",
                  "counter packets " + r.nextInt(1000) + " bytes " + r.nextInt(100000) + " ",
                  "log prefix \"gen " + r.nextInt(10) + " \" ",
                  "log level " + pick(List.of("info", "warn", "err")) + " ",
                  "limit rate "
                      + (1 + r.nextInt(100))
                      + "/"
                      + pick(List.of("second", "minute", "hour"))
                      + " ",
                  "meta mark set " + hex() + " ",
                  "meta mark set meta mark or 0x4000 ",
                  "mark set mark xor 0x4000 ",
                  "ct mark set meta mark ",
                  "meta mark set ip saddr map @marks ",
                  "update @dyn { ip saddr } "));
      b.append("6".equals(l3) && st.contains("ip saddr") ? "counter " : st);
    }
    boolean last = chain >= chains;
    List<String> verdicts =
        new ArrayList<>(
            List.of(
                "accept",
                "drop",
                "return",
                "continue",
                "reject",
                "reject with icmp type host-unreachable",
                "reject with icmpx admin-prohibited",
                "tcp dport 80 reject with tcp reset"));
    if (!last) {
      verdicts.add("jump " + chainAfter(chain));
      verdicts.add("goto " + chainAfter(chain));
      int k = 1 + r.nextInt(3);
      StringBuilder v = new StringBuilder("numgen random mod " + k + " vmap { ");
      for (int i = 0; i < k; i++) {
        v.append(i == 0 ? "" : " , ").append(i).append(" : goto ").append(chainAfter(chain));
      }
      verdicts.add(v.append(" }").toString());
      verdicts.add("ip daddr . meta l4proto . th dport vmap @svc");
      verdicts.add("ct state vmap { established : accept, related : accept, invalid : drop }");
      verdicts.add(
          "ip saddr vmap { "
              + prefix()
              + " : accept, 192.168.0.0/16 : goto "
              + chainAfter(chain)
              + " }");
      verdicts.add("ct mark set ct mark and " + hex() + " jump " + chainAfter(chain));
    }
    String v = pick(verdicts);
    if (v.contains("tcp") && proto != null && !proto.equals("tcp") && !proto.equals("th")) {
      v = "drop";
    }
    if (v.contains("th dport") && conflict("th", proto)) {
      v = "accept";
    }
    if (l3 != null && l3.equals("6") && (v.contains("ip daddr") || v.contains("ip saddr"))) {
      v = "accept";
    }
    if (family.equals("inet") && v.startsWith("reject with icmp type")) {
      v = "reject with icmpx admin-prohibited";
    } else if (!family.equals("inet") && v.startsWith("reject with icmpx")) {
      v = "reject with icmp type admin-prohibited";
    }
    b.append(v);
    if (r.nextInt(4) == 0) {
      b.append(" comment \"rule ").append(r.nextInt(100)).append(" of ns/svc:p80\"");
    }
    return b.toString();
  }

  private String natRule(boolean dnat) {
    String fam = family.equals("inet") ? "ip " : "";
    if (dnat) {
      return pick(
          List.of(
              "ip daddr " + ip() + " meta l4proto tcp dnat " + fam + "to " + ip() + ":" + port(),
              "meta l4proto udp dnat " + fam + "to " + ip(),
              "ip daddr "
                  + ip()
                  + " tcp dport "
                  + port()
                  + " dnat "
                  + fam
                  + "to "
                  + ip()
                  + ":"
                  + port(),
              "tcp dport " + port() + " redirect to :" + port(),
              "ip daddr " + ip() + " notrack",
              "ip daddr "
                  + ip()
                  + " tcp dport "
                  + port()
                  + " dnat "
                  + fam
                  + "to 10.0.0.2-10.0.0.5:8000-8010",
              "tcp dport "
                  + port()
                  + " dnat "
                  + fam
                  + "to ip saddr map { "
                  + prefix()
                  + " : "
                  + ip()
                  + " }"));
    }
    return pick(
        List.of(
            "masquerade",
            "masquerade fully-random",
            "oifname \"eth0\" masquerade random,persistent",
            "ip saddr " + prefix() + " snat " + fam + "to " + ip(),
            "mark and 0x4000 == 0 return",
            "tcp dport 1 masquerade to :1024-2000"));
  }
}
