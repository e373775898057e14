/**
 * Upstream kube-proxy's nftables mode as a pure renderer: {@link
 * dev.svcproxy.render.nftables.NftablesRenderer} turns a ProxyState into the {@code ip kube-proxy}
 * table (an {@link dev.svcproxy.nftables.NftRuleset}) with the layout, names, comments and
 * priorities of upstream's proxier.go as its tests at kubernetes commit 81810de6 expect them.
 *
 * <p>Chosen where upstream leaves a choice or has changed over time:
 *
 * <ul>
 *   <li>NodePorts: without --nodeport-addresses they answer on the primary node IP only
 *       (nodeport-ips), as upstream's nftables mode defaults the flag to "primary"; a 0.0.0.0/0
 *       CIDR gives {@code fib daddr type local} instead, never loopback addresses.
 *   <li>One-endpoint services still go through {@code numgen random mod 1 vmap}, as the oracle
 *       tests expect (upstream dropped it later, in kubernetes#140723).
 *   <li>The cluster-IP masquerade rule matches the destination address alone (no port), as the
 *       oracle's dumps show; the detectors match interfaces by name ({@code iifname}).
 *   <li>The mark is ProxyConfig's ("0x4000"); upstream formats it "%#08x" ("0x004000"), which nft
 *       reads as the same number.
 * </ul>
 *
 * <p>Not here: IPv6 (the {@code ip6 kube-proxy} table), and everything a sync does over time
 * (flushing and later deleting stale chains, deleting stale affinity sets, element diffs). Two
 * ports of one Service each carry the Service's cluster-ips element; the kernel holds one.
 */
package dev.svcproxy.render.nftables;
