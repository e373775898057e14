package dev.svcproxy.render.ipvs;

import dev.svcproxy.ipvs.IpvsadmCodec;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.TableRule;
import java.util.List;

/**
 * `render --mode ipvs` output: the IpvsState in sections, each headed by one line "# NAME" (the
 * only lines that start with "# ") and holding the input of the tool that applies it, verbatim.
 * Sections, in order: kube-ipvs0 addresses (ip -batch), ipset restore, ipvsadm -R, ipvsadm --set
 * (only when a timeout is set), iptables-restore (nat and filter, for --noflush), sysctl ("key =
 * value", sysctl.conf syntax), jump rules (iptables arguments, inserted first in the order listed).
 */
public final class IpvsText {
  public static final String ADDRESSES = "# kube-ipvs0 addresses";
  public static final String IPSET = "# ipset restore";
  public static final String IPVSADM = "# ipvsadm -R";
  public static final String IPVSADM_SET = "# ipvsadm --set";
  public static final String IPTABLES = "# iptables-restore";
  public static final String SYSCTL = "# sysctl";
  public static final String JUMPS = "# jump rules";

  /** Every header, in output order. */
  public static final List<String> SECTIONS =
      List.of(ADDRESSES, IPSET, IPVSADM, IPVSADM_SET, IPTABLES, SYSCTL, JUMPS);

  private IpvsText() {}

  /** The whole render; {@code opts} gives the `ipvsadm --set` timeouts. */
  public static String print(IpvsState s, IpvsOptions opts) {
    StringBuilder b = new StringBuilder();
    b.append(ADDRESSES).append('\n');
    for (String a : s.dummyAddresses()) {
      b.append("address add ")
          .append(a)
          .append("/32 dev ")
          .append(IpvsState.DUMMY_DEVICE)
          .append('\n');
    }
    b.append(IPSET).append('\n').append(IpsetCodec.print(s.ipsets()));
    b.append(IPVSADM).append('\n').append(IpvsadmCodec.printRestore(s.services()));
    if (opts.setsTimeouts()) {
      // ipvsadm --set takes all three; 0 leaves that one as the kernel has it.
      b.append(IPVSADM_SET)
          .append('\n')
          .append("--set ")
          .append(opts.tcpTimeoutSeconds())
          .append(' ')
          .append(opts.tcpFinTimeoutSeconds())
          .append(' ')
          .append(opts.udpTimeoutSeconds())
          .append('\n');
    }
    b.append(IPTABLES).append('\n').append(s.iptables().print());
    b.append(SYSCTL).append('\n');
    for (IpvsState.Sysctl c : s.sysctls()) {
      b.append(c.key().replace('/', '.')).append(" = ").append(c.value()).append('\n');
    }
    b.append(JUMPS).append('\n');
    for (TableRule j : s.jumps()) {
      b.append(jump(j)).append('\n');
    }
    return b.toString();
  }

  /** "-t nat -I OUTPUT -m comment --comment \"...\" -j KUBE-SERVICES" (iptables arguments). */
  public static String jump(TableRule j) {
    return "-t " + j.table() + " -I " + j.rule().print().substring("-A ".length());
  }

  /** The lines of section {@code header} in {@code text} (empty if it has none). */
  public static List<String> section(String text, String header) {
    List<String> out = new java.util.ArrayList<>();
    boolean in = false;
    for (String l : text.split("\n", -1)) {
      if (l.startsWith("# ")) {
        in = l.equals(header);
      } else if (in && !l.isEmpty()) {
        out.add(l);
      }
    }
    return out;
  }
}
