package dev.svcproxy.netfilter.match;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Value;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * One match of a rule with its values interpreted as the kernel holds them (ports as ranges, marks
 * as value/mask, probabilities as xt_statistic's u32); built by {@code netfilter.TypedRule} only.
 * Defaults iptables fills in are filled in here too, so two spellings of one match are equal.
 */
public sealed interface Match {

  /** An option kept as written (values without their quotes), for matches not modelled further. */
  record Opt(boolean negated, String flag, List<String> values) {
    public Opt {
      values = List.copyOf(values);
    }

    /** The option as an element of {@code module} again. */
    public Arg.Option arg(String module) {
      return new Arg.Option(module, negated, flag, values.stream().map(Value::of).toList(), false);
    }
  }

  /** "[!] -p proto", the name in lower case ("all" for any). */
  record Protocol(boolean negated, String name) implements Match {
    /** Whether a packet of protocol {@code have} ("tcp", "udp", ...) matches. */
    public boolean matches(String have) {
      boolean m =
          name.equals("all") || name.equals("0") || name.equals(have) || name.equals(number(have));
      return negated != m;
    }

    private static String number(String p) {
      return switch (p) {
        case "tcp" -> "6";
        case "udp" -> "17";
        case "icmp" -> "1";
        case "sctp" -> "132";
        default -> "";
      };
    }
  }

  /** "[!] -s/-d a[,b...]": networks with host bits cleared, as the kernel stores them. */
  record Address(boolean source, boolean negated, List<Cidr> networks) implements Match {
    public Address {
      networks = List.copyOf(networks);
    }

    public boolean matches(String ip) {
      boolean m = networks.stream().anyMatch(c -> c.contains(ip));
      return negated != m;
    }
  }

  /**
   * "[!] -s/-d a/m[,...]" where a mask is not a prefix ("10.0.0.0/255.0.255.0", which iptables-save
   * prints dotted): each entry an IPv4 address/mask with the address masked, as the kernel's
   * ip_packet_match tests (addr &amp; mask) == entry.
   */
  record AddressMask(boolean source, boolean negated, List<MarkMask> entries) implements Match {
    public AddressMask {
      entries = List.copyOf(entries);
    }

    public boolean matches(String ip) {
      long v = dev.svcproxy.model.Ip.ipv4ToLong(ip);
      boolean m = v >= 0 && entries.stream().anyMatch(e -> e.matches(v));
      return negated != m;
    }
  }

  /** "[!] -i/-o name", a trailing "+" matching every name with that prefix. */
  record Interface(boolean in, boolean negated, String pattern) implements Match {
    public boolean matches(String name) {
      return negated != nameMatches(pattern, name);
    }

    /** Whether an interface pattern ("eth0", "veth+") covers {@code name}; none never matches. */
    public static boolean nameMatches(String pattern, String name) {
      if (name == null || name.isEmpty()) {
        return false;
      }
      if (pattern.endsWith("+")) {
        return name.startsWith(pattern.substring(0, pattern.length() - 1));
      }
      return pattern.equals(name);
    }
  }

  /** "[!] -f": non-first fragments. */
  record Fragment(boolean negated) implements Match {}

  /** One port test: "[!] --dport 80" or "[!] --sport 1000:2000". */
  record PortTest(boolean negated, PortRange range) {
    public boolean matches(int port) {
      return negated != range.contains(port);
    }
  }

  /**
   * TCP flags "[!] --tcp-flags MASK COMP" (upper case, ALL and NONE spelled out); "--syn" is
   * FIN,SYN,RST,ACK / SYN, as libxt_tcp stores it.
   */
  record TcpFlags(boolean negated, Set<String> mask, Set<String> comp) {
    public static final List<String> ALL = List.of("FIN", "SYN", "RST", "PSH", "ACK", "URG");

    public TcpFlags {
      mask = Collections.unmodifiableSet(new TreeSet<>(mask));
      comp = Collections.unmodifiableSet(new TreeSet<>(comp));
    }

    /**
     * Whether a segment carrying exactly {@code set} matches: xt_tcpudp tests (flags &amp; mask) ==
     * comp, so a comp flag outside the mask never matches.
     */
    public boolean matches(Set<String> set) {
      for (String f : ALL) {
        if ((mask.contains(f) && set.contains(f)) != comp.contains(f)) {
          return negated;
        }
      }
      return !negated;
    }
  }

  /**
   * The protocol match "-m tcp/udp/sctp/udplite" with its port tests (null when absent); for tcp
   * the flag test, and options not modelled (such as --tcp-option) as written.
   */
  record Ports(String protocol, PortTest sport, PortTest dport, TcpFlags flags, List<Opt> other)
      implements Match {
    public Ports {
      other = List.copyOf(other);
    }
  }

  /**
   * "-m icmp [!] --icmp-type T" as libxt_icmp stores it: the type (0xFF for "any", also when
   * absent) and the code range the name or "type[/code]" covers.
   */
  record Icmp(boolean negated, int type, int codeMin, int codeMax) implements Match {
    /**
     * Whether an ICMP packet of {@code type}/{@code code} matches (xt_icmp icmp_type_code_match).
     */
    public boolean matches(int t, int code) {
      boolean m = type == 0xFF || (t == type && code >= codeMin && code <= codeMax);
      return negated != m;
    }
  }

  /** Which ports a multiport list applies to. */
  enum Direction {
    SOURCE,
    DESTINATION,
    EITHER
  }

  /** "-m multiport [!] --dports/--sports/--ports list", each entry a port or a range. */
  record MultiPort(Direction direction, boolean negated, List<PortRange> ports) implements Match {
    public MultiPort {
      ports = List.copyOf(ports);
    }

    public boolean matches(int sport, int dport) {
      boolean m =
          switch (direction) {
            case SOURCE -> any(sport);
            case DESTINATION -> any(dport);
            case EITHER -> any(sport) || any(dport);
          };
      return negated != m;
    }

    private boolean any(int port) {
      return ports.stream().anyMatch(r -> r.contains(port));
    }
  }

  /** "-m mark [!] --mark value[/mask]" on the packet mark. */
  record Mark(boolean negated, MarkMask mark) implements Match {
    public boolean matches(long packetMark) {
      return negated != mark.matches(packetMark);
    }
  }

  /** "-m connmark [!] --mark value[/mask]" on the connection's mark. */
  record ConnMark(boolean negated, MarkMask mark) implements Match {
    public boolean matches(long ctMark) {
      return negated != mark.matches(ctMark);
    }
  }

  /** One test of the conntrack match. */
  sealed interface CtTest {
    boolean negated();
  }

  /** "[!] --ctstate NEW,ESTABLISHED,..." (also "-m state --state"). */
  record CtState(boolean negated, Set<String> states) implements CtTest {
    public static final Set<String> NAMES =
        Set.of("INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED", "SNAT", "DNAT");

    public CtState {
      states = Collections.unmodifiableSet(new TreeSet<>(states));
    }
  }

  /** "[!] --ctstatus ASSURED,..." */
  record CtStatus(boolean negated, Set<String> statuses) implements CtTest {
    public static final Set<String> NAMES =
        Set.of("NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED");

    public CtStatus {
      statuses = Collections.unmodifiableSet(new TreeSet<>(statuses));
    }
  }

  /** "[!] --ctorigsrc/--ctorigdst/--ctreplsrc/--ctrepldst address[/mask]". */
  record CtAddress(String flag, boolean negated, Cidr network) implements CtTest {}

  /** "[!] --ctorigsrcport/--ctorigdstport/--ctreplsrcport/--ctrepldstport port[:port]". */
  record CtPort(String flag, boolean negated, PortRange range) implements CtTest {}

  /** "--ctdir ORIGINAL|REPLY" (never negated). */
  record CtDir(boolean negated, boolean reply) implements CtTest {}

  /** "[!] --ctproto proto". */
  record CtProto(boolean negated, String protocol) implements CtTest {}

  /** A conntrack option not modelled (--ctexpire, ...), as written. */
  record CtOther(boolean negated, Opt option) implements CtTest {}

  /** "-m conntrack" with its tests, in written order. */
  record Conntrack(List<CtTest> tests) implements Match {
    public Conntrack {
      tests = List.copyOf(tests);
    }
  }

  /** "-m state [!] --state ..." (the older spelling of --ctstate). */
  record State(CtState state) implements Match {}

  /** Statistic modes. */
  enum StatisticMode {
    RANDOM,
    NTH
  }

  /**
   * "-m statistic": random with {@code probability} as xt_statistic holds it (lround(p * 2^31)), or
   * nth with {@code every} and {@code packet} as written.
   */
  record Statistic(StatisticMode mode, boolean negated, long probability, long every, long packet)
      implements Match {
    /** The chance a packet matches, the kernel's rounding included (negation not applied). */
    public double chance() {
      return mode == StatisticMode.RANDOM ? probability / 2147483648.0 : 1.0 / every;
    }
  }

  /** One address-type test: "[!] --src-type/--dst-type LOCAL,...". */
  record TypeTest(boolean negated, Set<String> types) {
    public TypeTest {
      types = Collections.unmodifiableSet(new TreeSet<>(types));
    }

    public boolean matches(String type) {
      return negated != types.contains(type);
    }
  }

  /** "-m addrtype" with its tests (null when absent) and interface limits. */
  record AddrType(TypeTest src, TypeTest dst, boolean limitIfaceIn, boolean limitIfaceOut)
      implements Match {}

  /** Which side of the packet a set dimension is looked up with. */
  enum Side {
    SRC,
    DST
  }

  /**
   * "-m set [!] --match-set NAME src,dst" and its other options (--return-nomatch,
   * --update-counters, ...) as written.
   */
  record SetMatch(boolean negated, String name, List<Side> dims, List<Opt> other) implements Match {
    public SetMatch {
      dims = List.copyOf(dims);
      other = List.copyOf(other);
    }
  }

  /** xt_recent commands. */
  enum RecentCommand {
    SET,
    RCHECK,
    UPDATE,
    REMOVE
  }

  /**
   * "-m recent": list {@code name} (DEFAULT), command, the address side (rsource unless --rdest),
   * --seconds (0 = none), --reap, --hitcount (0 = none), --rttl, --mask (255.255.255.255).
   */
  record Recent(
      String name,
      RecentCommand command,
      boolean negated,
      long seconds,
      boolean reap,
      long hitcount,
      boolean rttl,
      String mask,
      boolean rdest)
      implements Match {}

  /** "-m comment --comment TEXT". */
  record Comment(String text) implements Match {}

  /**
   * One physdev test: a port name ("[!] --physdev-in eth0") or a flag ("[!] --physdev-is-bridged").
   */
  record PhysdevTest(boolean negated, String flag, String name) {}

  /** "-m physdev" with its tests. */
  record Physdev(List<PhysdevTest> tests) implements Match {
    public Physdev {
      tests = List.copyOf(tests);
    }
  }

  /** "-m nfacct --nfacct-name NAME". */
  record Nfacct(String name) implements Match {}

  /** "-m limit --limit RATE --limit-burst N" (rate as written, 3/hour and burst 5 by default). */
  record Limit(String rate, long burst) implements Match {}

  /** "-m iprange [!] --src-range/--dst-range a-b" (as IPv4 numbers). */
  record IpRange(boolean source, boolean negated, long from, long to) implements Match {}

  /** "-m policy --dir in|out [!] --pol none|ipsec" and its other options as written. */
  record Policy(String dir, boolean negated, String pol, List<Opt> other) implements Match {
    public Policy {
      other = List.copyOf(other);
    }
  }

  /** "-m rpfilter" and its flags. */
  record RpFilter(boolean loose, boolean validMark, boolean acceptLocal, boolean invert)
      implements Match {}

  /** A module this model does not know, kept as written so it can be printed back. */
  record Unknown(String module, List<Opt> options) implements Match {
    public Unknown {
      options = List.copyOf(options);
    }

    /** The module and its options as rule elements again. */
    public List<Arg> args() {
      List<Arg> out = new ArrayList<>();
      out.add(new Arg.Module(module));
      for (Opt o : options) {
        out.add(o.arg(module));
      }
      return out;
    }
  }

  /**
   * An element whose values iptables would refuse ("--dport abc"): {@code written} shows it, {@code
   * reason} says what is wrong. Only a lenient parse produces it.
   */
  record Invalid(String written, String reason) implements Match {}
}
