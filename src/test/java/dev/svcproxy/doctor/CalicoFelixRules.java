package dev.svcproxy.doctor;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Calico felix's filter-table INPUT layout for a node with a named host endpoint, as iptables-save
 * prints it (iptables dataplane, IPIP pool, default FelixConfiguration: IptablesMarkMask
 * 0xffff0000, so accept = 0x10000, pass = 0x20000, the endpoint marks 0xfff00000 with 0x100000 for
 * "not a Calico endpoint"). Written after projectcalico/calico felix/rules: static.go
 * (filterInputChain, filterWorkloadToHostChain, failsafeInChain,
 * StaticFilterInputForwardCheckChain), endpoints.go (endpointIptablesChain: conntrack rules,
 * failsafe jump, "Start of tier", "Return if policy accepted", "Drop if no policies passed packet",
 * "Drop if no profiles matched"), dispatch.go (cali-from-host-endpoint, cali-set-endpoint-mark) and
 * policy.go (a rule's Allow sets the accept bit, then RETURN on it); the mark values match a dump
 * in projectcalico/calico#3835 ("MARK --set-xmark 0x0/0xf0000", "--mark 0x10000/0x10000") and the
 * "MARK xset 0x100000/0xfff00000" non-Calico endpoint mark of felix's IPVS support. The {@code
 * cali:...} comment ids have felix's shape (16 characters of a base64url SHA-224 over the rule),
 * not felix's exact input.
 *
 * <p>Without {@code ipvsSupport} the layout is that of a felix that found no kube-ipvs0 when it
 * started (felix/dataplane/driver.go enables kube-proxy IPVS support only then): VIP traffic
 * arriving on the host endpoint's interface is host-bound traffic to it and meets the endpoint's
 * default deny. With it, cali-INPUT sends traffic to non-host addresses through cali-forward-check,
 * which marks it with its endpoint and RETURNs it out of cali-INPUT, to be policed as forwarded
 * traffic in OUTPUT.
 */
final class CalicoFelixRules {
  /** The chain felix gives a GlobalNetworkPolicy of the default tier: cali-pi-default.NAME. */
  record Policy(String name, List<PolicyRule> rules) {
    String chain() {
      return "cali-pi-default." + name;
    }
  }

  /**
   * One Allow rule of a policy: {@code head} the matches iptables-save prints before the comment
   * (-p, -s, -d), {@code tail} the module matches after it (-m multiport ...), either may be "".
   */
  record PolicyRule(String head, String tail) {}

  /** allow-ssh: the host endpoint's only policy, ingress tcp 22 (everything else is denied). */
  static final Policy ALLOW_SSH =
      new Policy("allow-ssh", List.of(new PolicyRule("-p tcp", "-m multiport --dports 22")));

  /** The policy the finding's fix asks for: ingress to the given destination nets. */
  static Policy allowServices(String... nets) {
    List<PolicyRule> rules = new ArrayList<>();
    for (String n : nets) {
      rules.add(new PolicyRule("-d " + n, ""));
    }
    return new Policy("allow-svc", rules);
  }

  private final String iface;
  private final boolean ipvsSupport;
  private final List<Policy> policies;
  private final Set<String> chains = new LinkedHashSet<>();
  private final List<String> rules = new ArrayList<>();

  private CalicoFelixRules(String iface, boolean ipvsSupport, List<Policy> policies) {
    this.iface = iface;
    this.ipvsSupport = ipvsSupport;
    this.policies = policies;
    build();
  }

  /** The layout for a host endpoint on {@code iface} with {@code policies} in the default tier. */
  static CalicoFelixRules of(String iface, boolean ipvsSupport, List<Policy> policies) {
    return new CalicoFelixRules(iface, ipvsSupport, policies);
  }

  /** The chain declarations (":cali-INPUT - [0:0]") and rules, for inside a *filter section. */
  String body() {
    StringBuilder s = new StringBuilder();
    chains.forEach(c -> s.append(':').append(c).append(" - [0:0]\n"));
    rules.forEach(r -> s.append(r).append('\n'));
    return s.toString();
  }

  /** The ipsets the rules use (ipset-save form): Calico hosts, and this host's addresses. */
  static String ipsets(List<String> hostIps, List<String> thisHost) {
    StringBuilder s =
        new StringBuilder(
            "create cali40all-hosts-net hash:net family inet hashsize 1024 maxelem 1048576\n");
    hostIps.forEach(ip -> s.append("add cali40all-hosts-net ").append(ip).append("/32\n"));
    s.append("create cali40this-host hash:ip family inet hashsize 1024 maxelem 1048576\n");
    thisHost.forEach(ip -> s.append("add cali40this-host ").append(ip).append('\n'));
    return s.toString();
  }

  private void build() {
    // insert mode: felix's jump is the first rule of INPUT.
    add("INPUT", "", "", "-j cali-INPUT");
    chain("cali-INPUT");
    add(
        "cali-INPUT",
        "-p ipencap",
        "-m comment --comment \"Allow IPIP packets from Calico hosts\" -m set --match-set"
            + " cali40all-hosts-net src -m addrtype --dst-type LOCAL",
        "-j ACCEPT");
    add(
        "cali-INPUT",
        "-p ipencap",
        "-m comment --comment \"Drop IPIP packets from non-Calico hosts\"",
        "-j DROP");
    if (ipvsSupport) {
      add("cali-INPUT", "", "", "-j MARK --set-xmark 0x0/0xfff00000");
      add("cali-INPUT", "", "", "-j cali-forward-check");
      add("cali-INPUT", "", "-m mark ! --mark 0x0/0xfff00000", "-j RETURN");
    }
    add("cali-INPUT", "-i cali+", "", "-g cali-wl-to-host");
    add("cali-INPUT", "", "-m mark --mark 0x10000/0x10000", "-j ACCEPT");
    add("cali-INPUT", "", "", "-j MARK --set-xmark 0x0/0xf0000");
    add("cali-INPUT", "", "", "-j cali-from-host-endpoint");
    add(
        "cali-INPUT",
        "",
        "-m comment --comment \"Host endpoint policy accepted packet.\" -m mark --mark"
            + " 0x10000/0x10000",
        "-j ACCEPT");

    chain("cali-wl-to-host");
    add("cali-wl-to-host", "", "", "-j cali-from-wl-dispatch");
    add(
        "cali-wl-to-host",
        "",
        "-m comment --comment \"Configured DefaultEndpointToHostAction\"",
        "-j ACCEPT");
    chain("cali-from-wl-dispatch");
    add("cali-from-wl-dispatch", "", "-m comment --comment \"Unknown interface\"", "-j DROP");

    if (ipvsSupport) {
      chain("cali-forward-check");
      add("cali-forward-check", "", "-m conntrack --ctstate RELATED,ESTABLISHED", "-j RETURN");
      for (String p : List.of("tcp", "udp")) {
        add(
            "cali-forward-check",
            "-p " + p,
            "-m comment --comment \"To kubernetes NodePort service\" -m multiport --dports"
                + " 30000:32767 -m set --match-set cali40this-host dst",
            "-g cali-set-endpoint-mark");
      }
      add(
          "cali-forward-check",
          "",
          "-m comment --comment \"To kubernetes service\" -m set ! --match-set cali40this-host"
              + " dst",
          "-j cali-set-endpoint-mark");
      chain("cali-set-endpoint-mark");
      add("cali-set-endpoint-mark", "-i " + iface, "", "-g cali-sm-" + iface);
      add(
          "cali-set-endpoint-mark",
          "-i cali+",
          "-m comment --comment \"Unknown endpoint\"",
          "-j DROP");
      add(
          "cali-set-endpoint-mark",
          "",
          "-m comment --comment \"Non-Cali endpoint mark\"",
          "-j MARK --set-xmark 0x100000/0xfff00000");
      chain("cali-sm-" + iface);
      add("cali-sm-" + iface, "", "", "-j MARK --set-xmark 0xa7e00000/0xfff00000");
    }

    chain("cali-from-host-endpoint");
    add("cali-from-host-endpoint", "-i " + iface, "", "-g cali-fh-" + iface);

    String fh = "cali-fh-" + iface;
    chain(fh);
    add(fh, "", "-m conntrack --ctstate RELATED,ESTABLISHED", "-j ACCEPT");
    add(fh, "", "-m conntrack --ctstate INVALID", "-j DROP");
    add(fh, "", "", "-j cali-failsafe-in");
    add(fh, "", "", "-j MARK --set-xmark 0x0/0x30000");
    add(
        fh,
        "",
        "-m comment --comment \"Start of tier default\"",
        "-j MARK --set-xmark 0x0/0x20000");
    for (Policy p : policies) {
      add(fh, "", "-m mark --mark 0x0/0x20000", "-j " + p.chain());
      add(
          fh,
          "",
          "-m comment --comment \"Return if policy accepted\" -m mark --mark 0x10000/0x10000",
          "-j RETURN");
    }
    add(
        fh,
        "",
        "-m comment --comment \"Drop if no policies passed packet\" -m mark --mark 0x0/0x20000",
        "-j DROP");
    add(fh, "", "-m comment --comment \"Drop if no profiles matched\"", "-j DROP");

    for (Policy p : policies) {
      chain(p.chain());
      for (PolicyRule r : p.rules()) {
        add(p.chain(), r.head(), r.tail(), "-j MARK --set-xmark 0x10000/0x10000");
        add(p.chain(), "", "-m mark --mark 0x10000/0x10000", "-j RETURN");
      }
    }

    // FailsafeInboundHostPorts' default: ssh, DHCP, BGP, etcd, Typha, the apiserver, flannel's.
    chain("cali-failsafe-in");
    for (String pp :
        List.of(
            "tcp:22",
            "udp:68",
            "tcp:179",
            "tcp:2379",
            "tcp:2380",
            "tcp:5473",
            "tcp:6443",
            "tcp:6666",
            "tcp:6667")) {
      String[] x = pp.split(":");
      add("cali-failsafe-in", "-p " + x[0], "-m multiport --dports " + x[1], "-j ACCEPT");
    }
  }

  private void chain(String name) {
    chains.add(name);
  }

  /** "-A chain HEAD -m comment --comment "cali:ID" TAIL TARGET", as iptables-save orders it. */
  private void add(String chain, String head, String tail, String target) {
    String id = id(chain + "|" + rules.size() + "|" + head + "|" + tail + "|" + target);
    StringBuilder s = new StringBuilder("-A ").append(chain);
    if (!head.isEmpty()) {
      s.append(' ').append(head);
    }
    s.append(" -m comment --comment \"cali:").append(id).append('"');
    if (!tail.isEmpty()) {
      s.append(' ').append(tail);
    }
    rules.add(s.append(' ').append(target).toString());
  }

  private static String id(String text) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-224").digest(text.getBytes(StandardCharsets.UTF_8));
      return Base64.getUrlEncoder().withoutPadding().encodeToString(h).substring(0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The 1-based position of the first rule of {@code chain} containing {@code text}. */
  int ruleNumber(String chain, String text) {
    int n = 0;
    for (String r : rules) {
      if (r.startsWith("-A " + chain + " ")) {
        n++;
        if (r.contains(text)) {
          return n;
        }
      }
    }
    throw new IllegalArgumentException("no rule with " + text + " in " + chain);
  }

  /** The whole rule of {@code chain} containing {@code text}. */
  String rule(String chain, String text) {
    return rules.stream()
        .filter(r -> r.startsWith("-A " + chain + " ") && r.contains(text))
        .findFirst()
        .orElseThrow();
  }

  /** Whether the layout has the IPVS-support chains. */
  boolean ipvsSupport() {
    return ipvsSupport;
  }
}
