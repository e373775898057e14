package dev.svcproxy.netfilter;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Seeded random rules in the shapes iptables-save prints: built-in matches, match modules with
 * their options (the protocol's options also without "-m"), negations, a jump or goto with target
 * options last, counters. Values are drawn from ordinary ones and ones that are hard to print
 * (spaces, quotes, backslashes, flag-like text, empty, Unicode).
 */
final class RuleGenerator {
  private static final String[] CHAINS = {
    "KUBE-SVC-XPGD46QRK7WJZT7O", "INPUT", "my_chain.1", "X", "KUBE-SEP-SXIVWICOYRO3J4NJ", "a"
  };
  private static final String[] PLAIN = {
    "10.0.0.1",
    "10.96.0.0/12",
    "eth0",
    "veth+",
    "80",
    "0x4000/0x4000",
    "RELATED,ESTABLISHED",
    "-1",
    "ns1/svc1:p80",
    "0.3333333333",
    "SYN,ACK",
    "it's",
    "back\\slash",
    "x=y,z",
    "ünïcödé✓",
    "a\u00a0b",
    "#hash",
    "[0:0]",
    "COMMIT",
    "*nat"
  };
  private static final String[] HARD = {
    "a b",
    "ns1/svc1:p80 cluster IP",
    "say \"hi\"",
    "\"",
    "\\",
    "trailing\\",
    "\\\"",
    "",
    "!",
    "-j",
    "--dport",
    "-s 10.0.0.1",
    "a\u2003b",
    " lead",
    "trail ",
    "! x",
    "--comment \"x\" -j ACCEPT"
  };
  private static final String[] PARAMS = {"-s", "-d", "-i", "-o", "--source", "--dst"};
  private static final String[] PROTOS = {"tcp", "udp", "sctp", "icmp"};
  private static final String[][] MODULES = {
    {"comment", "--comment"},
    {"mark", "--mark"},
    {"addrtype", "--src-type", "--dst-type", "--limit-iface-in"},
    {"statistic", "--mode", "--probability", "--every", "--packet"},
    {"conntrack", "--ctstate", "--ctstatus", "--ctorigdst", "--ctorigdstport"},
    {"recent", "--set", "--rcheck", "--seconds", "--reap", "--name", "--mask", "--rsource"},
    {"multiport", "--dports", "--sports"},
    {"set", "--match-set"},
    {"physdev", "--physdev-is-in", "--physdev-out"},
    {"nfacct", "--nfacct-name"}
  };
  private static final String[] PROTO_OPTS = {"--dport", "--sport", "--destination-port"};
  private static final String[][] TARGETS = {
    {"ACCEPT"},
    {"DROP"},
    {"RETURN"},
    {"KUBE-MARK-MASQ"},
    {"DNAT", "--to-destination"},
    {"SNAT", "--to-source", "--random-fully"},
    {"MARK", "--set-xmark", "--or-mark"},
    {"MASQUERADE", "--random-fully", "--to-ports"},
    {"REJECT", "--reject-with"},
    {"LOG", "--log-prefix", "--log-level"}
  };

  private final Random rnd;

  RuleGenerator(long seed) {
    this.rnd = new Random(seed);
  }

  private <T> T pick(T[] a) {
    return a[rnd.nextInt(a.length)];
  }

  private Value value() {
    return Value.of(rnd.nextInt(3) == 0 ? pick(HARD) : pick(PLAIN));
  }

  private List<Value> values(int max) {
    List<Value> out = new ArrayList<>();
    int n = rnd.nextInt(max + 1);
    for (int i = 0; i < n; i++) {
      out.add(value());
    }
    return out;
  }

  /** Free text options take exactly one argument, whatever it looks like; others 0 to 2. */
  private List<Value> valuesOf(String flag) {
    return switch (flag) {
      case "--comment", "--name", "--nfacct-name", "--log-prefix" -> List.of(value());
      default -> values(2);
    };
  }

  Rule next() {
    List<Arg> args = new ArrayList<>();
    String proto = "";
    String module = "";
    int params = rnd.nextInt(3);
    for (int i = 0; i < params; i++) {
      args.add(new Arg.Param(rnd.nextInt(3) == 0, pick(PARAMS), value()));
    }
    if (rnd.nextBoolean()) {
      proto = pick(PROTOS);
      args.add(
          new Arg.Param(
              rnd.nextInt(5) == 0, rnd.nextBoolean() ? "-p" : "--protocol", Value.of(proto)));
    }
    if (rnd.nextInt(6) == 0) {
      args.add(new Arg.Param(rnd.nextBoolean(), "-f", null));
    }
    int groups = rnd.nextInt(4);
    for (int g = 0; g < groups; g++) {
      int kind = rnd.nextInt(4);
      if (kind == 0 && !proto.isEmpty()) {
        // The protocol's own match, loaded explicitly as iptables-save prints it.
        args.add(new Arg.Module(proto));
        module = proto;
        int n = 1 + rnd.nextInt(2);
        for (int i = 0; i < n; i++) {
          args.add(new Arg.Option(proto, rnd.nextInt(4) == 0, pick(PROTO_OPTS), values(1), false));
        }
      } else if (kind == 1 && !proto.isEmpty()) {
        // A protocol option without "-m": iptables loads the protocol's match implicitly.
        String owner = isProtoModule(module) ? module : proto;
        args.add(
            new Arg.Option(owner, rnd.nextInt(4) == 0, pick(PROTO_OPTS), List.of(value()), false));
      } else {
        String[] m = pick(MODULES);
        args.add(new Arg.Module(m[0]));
        module = m[0];
        int n = 1 + rnd.nextInt(3);
        for (int i = 0; i < n; i++) {
          String flag = m[1 + rnd.nextInt(m.length - 1)];
          args.add(new Arg.Option(m[0], rnd.nextInt(4) == 0, flag, valuesOf(flag), false));
        }
      }
    }
    if (rnd.nextInt(8) != 0) {
      String[] t = pick(TARGETS);
      boolean isGoto = t[0].startsWith("KUBE-") && rnd.nextBoolean();
      args.add(new Arg.Jump(t[0], isGoto));
      int n = t.length == 1 ? 0 : rnd.nextInt(3);
      for (int i = 0; i < n; i++) {
        String flag = t[1 + rnd.nextInt(t.length - 1)];
        args.add(new Arg.Option(t[0], false, flag, valuesOf(flag), true));
      }
    }
    String counters =
        rnd.nextInt(3) == 0 ? "[" + rnd.nextInt(1000) + ":" + rnd.nextInt(100000) + "]" : null;
    return new Rule(pick(CHAINS), args, counters);
  }

  private static boolean isProtoModule(String m) {
    for (String p : PROTOS) {
      if (p.equals(m)) {
        return true;
      }
    }
    return false;
  }

  /** The rule with every value as built in code (no "as written" token): its typed structure. */
  static Rule typed(Rule r) {
    List<Arg> args = new ArrayList<>();
    for (Arg a : r.args()) {
      args.add(
          switch (a) {
            case Arg.Param p ->
                new Arg.Param(
                    p.negated(), p.flag(), p.value() == null ? null : Value.of(p.value().text()));
            case Arg.Option o ->
                new Arg.Option(
                    o.module(),
                    o.negated(),
                    o.flag(),
                    o.values().stream().map(v -> Value.of(v.text())).toList(),
                    o.ofTarget());
            default -> a;
          });
    }
    return new Rule(r.chain(), args, r.counters());
  }
}
