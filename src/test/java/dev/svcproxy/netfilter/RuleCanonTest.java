package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RuleCanonTest {
  private static String key(String rule) {
    return RuleCanon.key(IptablesCodec.parseRule(rule));
  }

  @Test
  void key_restoreInputAndItsSavedForm_areEqual() {
    assertThat(
            key(
                "-A S -m comment --comment \"ns/s:p cluster IP\" -m tcp -p tcp -d 10.96.0.16 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ"))
        .isEqualTo(
            key(
                "-A S ! -s 10.244.0.0/16 -d 10.96.0.16/32 -p tcp -m comment --comment \"ns/s:p cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ"));
    assertThat(key("-A M -j MARK --or-mark 0x4000"))
        .isEqualTo(key("-A M -j MARK --set-xmark 0x4000/0x4000"));
    assertThat(key("-A P -j MARK --xor-mark 0x4000"))
        .isEqualTo(key("-A P -j MARK --set-xmark 0x4000/0x0"));
    assertThat(key("-A S -m statistic --mode random --probability 0.3333333333 -j X"))
        .isEqualTo(key("-A S -m statistic --mode random --probability 0.33333333349 -j X"));
    assertThat(
            key(
                "-A E -m comment --comment ns/s:p -m recent --name E --set -m tcp -p tcp -j DNAT --to-destination 10.0.0.1:80"))
        .isEqualTo(
            key(
                "-A E -p tcp -m comment --comment \"ns/s:p\" -m recent --set --name E --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.0.0.1:80"));
  }

  @Test
  void key_setMarkWithMask_equalsTheXmarkIptablesSavesForIt() {
    // libxt_MARK stores --set-mark v/m as --set-xmark v/(v|m); iptables-save prints the latter.
    assertThat(key("-A X -j MARK --set-mark 0x5/0xf0"))
        .isEqualTo(key("-A X -j MARK --set-xmark 0x5/0xf5"));
    assertThat(key("-A X -j CONNMARK --set-mark 0x3/0xc"))
        .isEqualTo(key("-A X -j CONNMARK --set-xmark 0x3/0xf"));
  }

  @Test
  void key_differentMeaning_differs() {
    assertThat(key("-A S -s 10.0.0.1 -j X")).isNotEqualTo(key("-A S ! -s 10.0.0.1 -j X"));
    assertThat(key("-A S -m statistic --mode random --probability 0.5 -j X"))
        .isNotEqualTo(key("-A S -m statistic --mode random --probability 0.3333333333 -j X"));
    assertThat(key("-A S -j DNAT --to-destination 10.0.0.1:80"))
        .isNotEqualTo(key("-A S -j DNAT --to-destination 10.0.0.2:80"));
    assertThat(key("-A S -j X")).isNotEqualTo(key("-A S -g X"));
    assertThat(key("-A S -m comment --comment a -j X"))
        .isNotEqualTo(key("-A S -m comment --comment b -j X"));
  }

  /**
   * Both checked with iptables 1.8.9 in a namespace: "-m tcp --dport 80 -m tcp --sport 1" was saved
   * as "-p tcp -m tcp --sport 1 --dport 80", and "-s 10.0.0.0/255.0.255.0" was saved as written (a
   * mask that is not a prefix is printed dotted).
   */
  @Test
  void key_savedFormsOfValidInput_equalAndTyped() {
    assertThat(key("-A X -p tcp -m tcp --dport 80 -m tcp --sport 1 -j DROP"))
        .isEqualTo(key("-A X -p tcp -m tcp --sport 1 --dport 80 -j DROP"));
    TypedRule.parse(IptablesCodec.parseRule("-A X -s 10.0.0.0/255.0.255.0 -j DROP"));
    assertThat(key("-A X -s 10.0.0.0/255.255.0.0 -j DROP"))
        .isEqualTo(key("-A X -s 10.0.0.0/16 -j DROP"));
    // iptables stores the address masked: 10.1.0.7/255.0.255.0 is 10.0.0.0 under that mask.
    assertThat(key("-A X -s 10.1.0.7/255.0.255.0 -j DROP"))
        .isEqualTo(key("-A X -s 10.0.0.0/255.0.255.0 -j DROP"))
        .isNotEqualTo(key("-A X -s 10.0.1.0/255.0.255.0 -j DROP"));
  }

  /** ip_packet_match: (saddr &amp; smsk) == src, src stored masked. */
  @Test
  void matches_nonContiguousMask_testsTheMaskedBits() {
    dev.svcproxy.netfilter.match.Match.AddressMask a =
        TypedRule.parse(IptablesCodec.parseRule("-A X -s 10.0.0.0/255.0.255.0 -j DROP"))
            .match(dev.svcproxy.netfilter.match.Match.AddressMask.class)
            .orElseThrow();
    assertThat(a.matches("10.77.0.9")).isTrue();
    assertThat(a.matches("10.77.1.9")).isFalse();
    assertThat(a.matches("11.0.0.1")).isFalse();
  }

  /**
   * A limit before a recent --update sees every packet, a limit after it only those --update let
   * through (xt_recent updates the list when it runs): their order is part of the meaning.
   */
  @Test
  void key_sideEffectModulesReordered_differ() {
    assertThat(key("-A X -m limit --limit 5/sec -m recent --update --name A --seconds 5 -j DROP"))
        .isNotEqualTo(
            key("-A X -m recent --update --name A --seconds 5 -m limit --limit 5/sec -j DROP"));
    assertThat(key("-A X -m comment --comment c -m limit --limit 5/sec -j DROP"))
        .isEqualTo(key("-A X -m limit --limit 5/sec -m comment --comment c -j DROP"));
  }
}
