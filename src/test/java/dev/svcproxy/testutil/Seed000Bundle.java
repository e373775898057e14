package dev.svcproxy.testutil;

/**
 * Seed 000's node as its author posted it: 10.19.136.10 with kube-proxy 1.9 in IPVS mode, the VIP
 * 10.20.0.1 on kube-ipvs0, its ipvsadm rules, ipsets and the failing node's nat table. Shared by
 * the tracer's and the doctor's tests of the seed.
 */
public final class Seed000Bundle {
  private Seed000Bundle() {}

  public static final String ADDR =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.19.136.10\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"kube-ipvs0\",\"flags\":[\"BROADCAST\",\"NOARP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.20.0.1\",\"prefixlen\":32}]}]";

  public static final String ROUTES =
      """
      default via 10.19.136.1 dev eth0
      10.19.136.0/24 dev eth0 proto kernel scope link src 10.19.136.10
      local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
      local 10.19.136.10 dev eth0 table local proto kernel scope host src 10.19.136.10
      local 10.20.0.1 dev kube-ipvs0 table local proto kernel scope host src 10.20.0.1
      """;

  /** The seed's ipvsadm rules, as it prints them. */
  public static final String SERVICES =
      """
      -A -t 10.20.0.1:443 -s rr -p 10800
      -a -t 10.20.0.1:443 -r 10.19.9.120:6443 -m -w 1
      -a -t 10.20.0.1:443 -r 10.19.14.106:6443 -m -w 1
      -a -t 10.20.0.1:443 -r 10.19.111.132:6443 -m -w 1
      """;

  public static final String IPSETS =
      """
      create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
      add KUBE-CLUSTER-IP 10.20.0.1,tcp:443
      create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
      create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
      """;

  /** The failing node's nat table, from the seed ("异常机器的iptables"), DOCKER chain declared. */
  public static final String FAILING =
      """
      *nat
      :PREROUTING ACCEPT [0:0]
      :INPUT ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :POSTROUTING ACCEPT [0:0]
      :DOCKER - [0:0]
      :KUBE-MARK-DROP - [0:0]
      :KUBE-MARK-MASQ - [0:0]
      :KUBE-POSTROUTING - [0:0]
      :KUBE-SERVICES - [0:0]
      -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
      -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
      -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
      -A POSTROUTING -s 11.0.113.0/24 ! -o docker0 -j MASQUERADE
      -A DOCKER -i docker0 -j RETURN
      -A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000
      -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
      -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -m mark --mark 0x4000/0x4000 -j MASQUERADE
      -A KUBE-POSTROUTING -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
      -A KUBE-SERVICES -p tcp -m tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
      COMMIT
      """;
}
