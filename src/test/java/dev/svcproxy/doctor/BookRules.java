package dev.svcproxy.doctor;

import java.util.ArrayList;
import java.util.List;

/**
 * The rules other tools install beside kube-proxy, as iptables-restore --noflush input, written
 * from what the tools themselves program (the book's listings and the upstream sources cited).
 */
final class BookRules {
  private BookRules() {}

  /**
   * Docker's bridge-network rules with docker0 at {@code 172.17.0.1/16}, as docker 20.10 programs
   * them on start (kubernetes/kubernetes#72370 shows the same dump from a node): the FORWARD policy
   * DROP (since docker 1.13, moby/moby#14041), DOCKER-USER and the isolation chains, the accepts
   * for docker0 only, and in nat the MASQUERADE of docker0's subnet and the DOCKER jumps for -p.
   */
  static String docker() {
    return docker("172.17.0.0/16");
  }

  /** {@link #docker()} with docker0's subnet {@code subnet} (daemon.json "bip"). */
  static String docker(String subnet) {
    return """
        *filter
        :FORWARD DROP [0:0]
        :DOCKER - [0:0]
        :DOCKER-ISOLATION-STAGE-1 - [0:0]
        :DOCKER-ISOLATION-STAGE-2 - [0:0]
        :DOCKER-USER - [0:0]
        -A FORWARD -j DOCKER-USER
        -A FORWARD -j DOCKER-ISOLATION-STAGE-1
        -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A FORWARD -o docker0 -j DOCKER
        -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
        -A FORWARD -i docker0 -o docker0 -j ACCEPT
        -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
        -A DOCKER-ISOLATION-STAGE-1 -j RETURN
        -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
        -A DOCKER-ISOLATION-STAGE-2 -j RETURN
        -A DOCKER-USER -j RETURN
        COMMIT
        *nat
        :DOCKER - [0:0]
        -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
        -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
        -A POSTROUTING -s %s ! -o docker0 -j MASQUERADE
        -A DOCKER -i docker0 -j RETURN
        COMMIT
        """
        .formatted(subnet);
  }

  /**
   * NodeLocal DNSCache's rules for one address it listens on, in the order node-cache's
   * initIptables lists them (kubernetes/dns cmd/node-cache/app/cache_app.go), each prepended as its
   * EnsureRule(Prepend) does: NOTRACK both ways in raw, ACCEPT in filter, and the health port.
   */
  static List<List<String>> nodeLocalDns(String localIp, String port, String healthPort) {
    List<List<String>> out = new ArrayList<>();
    for (String p : List.of("tcp", "udp")) {
      out.add(
          List.of(
              "-t",
              "raw",
              "-I",
              "PREROUTING",
              "-p",
              p,
              "-d",
              localIp,
              "--dport",
              port,
              "-j",
              "NOTRACK"));
    }
    for (String p : List.of("tcp", "udp")) {
      out.add(
          List.of(
              "-t", "filter", "-I", "INPUT", "-p", p, "-d", localIp, "--dport", port, "-j",
              "ACCEPT"));
    }
    for (String p : List.of("tcp", "udp")) {
      out.add(
          List.of(
              "-t", "raw", "-I", "OUTPUT", "-p", p, "-s", localIp, "--sport", port, "-j",
              "NOTRACK"));
    }
    for (String p : List.of("tcp", "udp")) {
      out.add(
          List.of(
              "-t", "filter", "-I", "OUTPUT", "-p", p, "-s", localIp, "--sport", port, "-j",
              "ACCEPT"));
    }
    for (String p : List.of("tcp", "udp")) {
      out.add(
          List.of(
              "-t", "raw", "-I", "OUTPUT", "-p", p, "-d", localIp, "--dport", port, "-j",
              "NOTRACK"));
    }
    out.add(
        List.of(
            "-t",
            "raw",
            "-I",
            "OUTPUT",
            "-p",
            "tcp",
            "-d",
            localIp,
            "--dport",
            healthPort,
            "-j",
            "NOTRACK"));
    out.add(
        List.of(
            "-t",
            "raw",
            "-I",
            "OUTPUT",
            "-p",
            "tcp",
            "-s",
            localIp,
            "--sport",
            healthPort,
            "-j",
            "NOTRACK"));
    return out;
  }

  /**
   * Calico felix's outgoing NAT for IP pool {@code pool} (nat-outgoing on), as the book lists it
   * from a node: cali-POSTROUTING from POSTROUTING, and cali-nat-outgoing masquerading sources in
   * the masq pools toward destinations outside every pool. The ipsets are created beside it.
   */
  static String calicoNat() {
    return """
        *nat
        :cali-POSTROUTING - [0:0]
        :cali-fip-snat - [0:0]
        :cali-nat-outgoing - [0:0]
        -A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING
        -A cali-POSTROUTING -m comment --comment "cali:Z-c7XtVd2Bq7s_hA" -j cali-fip-snat
        -A cali-POSTROUTING -m comment --comment "cali:nYKhEzDlr11Jccal" -j cali-nat-outgoing
        -A cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully
        COMMIT
        """;
  }

  /**
   * The bridge plugin's ipMasq chain for one container (podman's 87-podman-bridge.conflist has
   * ipMasq true): a CNI- chain per container, accepting its own subnet and masquerading the rest.
   */
  static String bridgeIpMasq(String chain, String podIp, String subnet, String id) {
    String c = "--comment \"name: \\\"podman\\\" id: \\\"" + id + "\\\"\"";
    return "*nat\n"
        + ":"
        + chain
        + " - [0:0]\n"
        + "-A POSTROUTING -s "
        + podIp
        + "/32 -m comment "
        + c
        + " -j "
        + chain
        + "\n"
        + "-A "
        + chain
        + " -d "
        + subnet
        + " -m comment "
        + c
        + " -j ACCEPT\n"
        + "-A "
        + chain
        + " ! -d 224.0.0.0/4 -m comment "
        + c
        + " -j MASQUERADE\n"
        + "COMMIT\n";
  }

  /** flannel's FORWARD accepts for its network (FLANNEL-FWD, flanneld's "flanneld forward"). */
  static String flannelForward(String network) {
    return """
        *filter
        :FLANNEL-FWD - [0:0]
        -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
        -A FLANNEL-FWD -s %s -m comment --comment "flanneld forward" -j ACCEPT
        -A FLANNEL-FWD -d %s -m comment --comment "flanneld forward" -j ACCEPT
        COMMIT
        """
        .formatted(network, network);
  }

  /**
   * The iptables commands that undo a restore text's "-A" lines (deleted in reverse) and remove the
   * chains it declared; built-in chains keep their rules from elsewhere. Values must not be quoted
   * with spaces inside (a comment is passed as one word only if it has none).
   */
  static List<List<String>> undo(String restore) {
    List<List<String>> deletes = new ArrayList<>();
    List<List<String>> chains = new ArrayList<>();
    String table = "";
    for (String l : restore.lines().map(String::strip).toList()) {
      if (l.startsWith("*")) {
        table = l.substring(1);
      } else if (l.startsWith("-A ")) {
        List<String> argv = new ArrayList<>(List.of("-t", table, "-D"));
        argv.addAll(words(l.substring(3)));
        deletes.add(0, argv);
      } else if (l.startsWith(":") && l.contains(" - ")) {
        chains.add(List.of("-t", table, "-X", l.substring(1, l.indexOf(' '))));
      }
    }
    deletes.addAll(chains);
    return deletes;
  }

  /** Splits a rule's text into words, keeping a double-quoted value as one. */
  private static List<String> words(String s) {
    List<String> out = new ArrayList<>();
    StringBuilder b = new StringBuilder();
    boolean quoted = false;
    for (char c : s.toCharArray()) {
      if (c == '"') {
        quoted = !quoted;
      } else if (c == ' ' && !quoted) {
        if (b.length() > 0) {
          out.add(b.toString());
          b.setLength(0);
        }
      } else {
        b.append(c);
      }
    }
    if (b.length() > 0) {
      out.add(b.toString());
    }
    return out;
  }

  /**
   * What docker run -p {@code port}:{@code port} adds for a container at {@code ip} on docker0 (the
   * book's listing and the same dump in kubernetes/kubernetes#72370): the DNAT in nat DOCKER, the
   * hairpin MASQUERADE, and the ACCEPT in filter DOCKER.
   */
  static String dockerPublish(String ip, int port) {
    return """
        *nat
        -A POSTROUTING -s %1$s/32 -d %1$s/32 -p tcp -m tcp --dport %2$d -j MASQUERADE
        -A DOCKER ! -i docker0 -p tcp -m tcp --dport %2$d -j DNAT --to-destination %1$s:%2$d
        COMMIT
        *filter
        -A DOCKER -d %1$s/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport %2$d -j ACCEPT
        COMMIT
        """
        .formatted(ip, port);
  }
}
