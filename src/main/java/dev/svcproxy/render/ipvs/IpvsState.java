package dev.svcproxy.render.ipvs;

import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.TableRule;
import java.util.List;

/**
 * Everything the IPVS mode wants the kernel to hold, as the renderer computes it (pure): the
 * addresses on kube-ipvs0, the ipsets with their entries, the IPVS services, the iptables chains of
 * IPVS mode with the jump rules into them, and the sysctls.
 *
 * @param dummyAddresses addresses bound to kube-ipvs0 (each /32), sorted
 * @param ipsets every set kube-proxy's IPVS mode creates, empty ones included, in upstream's order
 * @param services the virtual servers and their real servers
 * @param iptables the nat and filter tables for `iptables-restore --noflush`
 * @param jumps the jump rules from the built-in chains, in the order they are inserted
 * @param sysctls "net/ipv4/vs/conntrack" = "1", ... in the order they are set
 */
public record IpvsState(
    List<String> dummyAddresses,
    List<IpsetCodec.IpSet> ipsets,
    IpvsTable services,
    Ruleset iptables,
    List<TableRule> jumps,
    List<Sysctl> sysctls) {

  /** The device kube-proxy's IPVS mode binds service addresses to. */
  public static final String DUMMY_DEVICE = "kube-ipvs0";

  public IpvsState {
    dummyAddresses = List.copyOf(dummyAddresses);
    ipsets = List.copyOf(ipsets);
    jumps = List.copyOf(jumps);
    sysctls = List.copyOf(sysctls);
  }

  /** One sysctl, by its /proc/sys path below /proc/sys ("net/ipv4/vs/conntrack"). */
  public record Sysctl(String key, String value) {}
}
