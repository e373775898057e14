package dev.svcproxy.netfilter.target;

import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Value;
import dev.svcproxy.netfilter.match.Match;
import dev.svcproxy.netfilter.match.PortRange;
import java.util.ArrayList;
import java.util.List;

/**
 * A rule's target with its options interpreted as the kernel holds them (MARK ops as xmark
 * value/mask, NAT ranges as addresses and ports); built by {@code netfilter.TypedRule} only.
 */
public sealed interface Target {

  /** No -j: the rule only counts. */
  record None() implements Target {}

  /** "-j ACCEPT": the packet leaves this hook's table accepted. */
  record Accept() implements Target {}

  /** "-j DROP": the packet is discarded. */
  record Drop() implements Target {}

  /** "-j RETURN": back to the calling chain, or the built-in chain's policy. */
  record Return() implements Target {}

  /** "-j REJECT [--reject-with TYPE]", icmp-port-unreachable by default. */
  record Reject(String with) implements Target {}

  /** "-j CHAIN" or "-g CHAIN" to a user chain. */
  record Jump(String chain, boolean isGoto) implements Target {}

  /**
   * A NAT range "[ipFrom[-ipTo]][:portFrom[-portTo]]": {@code ipFrom}/{@code ipTo} null when only
   * ports are given, {@code ports} null when the port is kept.
   */
  record NatRange(String ipFrom, String ipTo, PortRange ports) {
    @Override
    public String toString() {
      String ip = ipFrom == null ? "" : ipTo.equals(ipFrom) ? ipFrom : ipFrom + "-" + ipTo;
      if (ip.contains(":") && ports != null) {
        ip = "[" + ip + "]";
      }
      return ports == null
          ? ip
          : ip + ":" + (ports.lo() == ports.hi() ? ports.lo() : ports.lo() + "-" + ports.hi());
    }
  }

  /** "-j DNAT --to-destination RANGE [--random] [--persistent]". */
  record Dnat(NatRange to, boolean random, boolean persistent) implements Target {}

  /** "-j SNAT --to-source RANGE [--random] [--random-fully] [--persistent]". */
  record Snat(NatRange to, boolean random, boolean randomFully, boolean persistent)
      implements Target {}

  /** "-j MASQUERADE [--to-ports P[-Q]] [--random] [--random-fully]"; {@code ports} may be null. */
  record Masquerade(PortRange ports, boolean random, boolean randomFully) implements Target {}

  /** "-j REDIRECT [--to-ports P[-Q]] [--random]"; {@code ports} may be null. */
  record Redirect(PortRange ports, boolean random) implements Target {}

  /**
   * "-j MARK": every spelling (--set-mark, --or-mark, --and-mark, --xor-mark) as the one operation
   * xt_MARK performs, {@code mark = (mark & ~mask) ^ value}.
   */
  record Mark(long value, long mask) implements Target {
    public long apply(long mark) {
      return ((mark & ~mask) ^ value) & 0xFFFFFFFFL;
    }
  }

  /** "-j CONNMARK": one of xt_CONNMARK's three operations. */
  sealed interface ConnMark extends Target {
    /** The new (connection mark, packet mark) pair. */
    long[] apply(long ctMark, long mark);
  }

  /** "--set-xmark value/mask" (and its other spellings): ctmark = (ctmark & ~mask) ^ value. */
  record ConnMarkSet(long value, long mask) implements ConnMark {
    @Override
    public long[] apply(long ctMark, long mark) {
      return new long[] {((ctMark & ~mask) ^ value) & 0xFFFFFFFFL, mark};
    }
  }

  /** "--save-mark --nfmask N --ctmask C": ctmark = (ctmark & ~C) ^ (mark & N). */
  record ConnMarkSave(long nfmask, long ctmask) implements ConnMark {
    @Override
    public long[] apply(long ctMark, long mark) {
      return new long[] {((ctMark & ~ctmask) ^ (mark & nfmask)) & 0xFFFFFFFFL, mark};
    }
  }

  /** "--restore-mark --nfmask N --ctmask C": mark = (mark & ~N) ^ (ctmark & C). */
  record ConnMarkRestore(long nfmask, long ctmask) implements ConnMark {
    @Override
    public long[] apply(long ctMark, long mark) {
      return new long[] {ctMark, ((mark & ~nfmask) ^ (ctMark & ctmask)) & 0xFFFFFFFFL};
    }
  }

  /** "-j LOG" with its prefix and level (null when absent) and other options as written. */
  record Log(String prefix, String level, List<Match.Opt> other) implements Target {
    public Log {
      other = List.copyOf(other);
    }
  }

  /** "-j NOTRACK", or "-j CT --notrack". */
  record NoTrack() implements Target {}

  /** "-j CT" without --notrack, its options as written. */
  record Ct(List<Match.Opt> options) implements Target {
    public Ct {
      options = List.copyOf(options);
    }
  }

  /** A target extension this model does not know, kept as written. */
  record Unknown(String name, List<Match.Opt> options) implements Target {
    public Unknown {
      options = List.copyOf(options);
    }

    /** "-j NAME" and its options as rule elements again. */
    public List<Arg> args() {
      List<Arg> out = new ArrayList<>();
      out.add(new Arg.Jump(name, false));
      for (Match.Opt o : options) {
        out.add(
            new Arg.Option(
                name, o.negated(), o.flag(), o.values().stream().map(Value::of).toList(), true));
      }
      return out;
    }
  }

  /** A target whose options iptables would refuse; only a lenient parse produces it. */
  record Invalid(String name, String reason) implements Target {}
}
