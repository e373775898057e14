package dev.svcproxy.render.iptables;

import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.RuleBuilder;
import java.util.List;

/**
 * The masquerade machinery every kube-proxy iptables layout shares (iptables and IPVS mode alike):
 * KUBE-POSTROUTING masquerades what carries the mark and clears it, KUBE-MARK-MASQ sets it.
 */
public final class MasqueradeRules {
  private MasqueradeRules() {}

  /** The four rules, in upstream's order; {@code mark} as upstream formats it ("0x4000"). */
  public static List<RuleBuilder> rules(String mark, boolean randomFully) {
    RuleBuilder masq =
        Rule.in(ChainNames.POSTROUTING)
            .comment("kubernetes service traffic requiring SNAT")
            .jump("MASQUERADE");
    if (randomFully) {
      masq.targetOption("--random-fully");
    }
    return List.of(
        Rule.in(ChainNames.POSTROUTING)
            .module("mark")
            .option(true, "--mark", mark + "/" + mark)
            .jump("RETURN"),
        Rule.in(ChainNames.POSTROUTING).jump("MARK").targetOption("--xor-mark", mark),
        masq,
        Rule.in(ChainNames.MARK_MASQ).jump("MARK").targetOption("--or-mark", mark));
  }
}
