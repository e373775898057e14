package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The one parse of a pasted prompt's command that the splitter and the coverage analysis share.
 * Expected values from the commands' own manuals: iptables-save -t names the table, iptables -L
 * CHAIN lists one chain of the filter table unless -t says otherwise, a pipe filters the output.
 */
class PromptTest {
  @Test
  void parse_sudoSaveOfNatThroughGrep_tableNatAndPlainGrep() {
    Prompt p = Prompt.parse("sudo iptables-save -t nat | grep KUBE-SVC");
    assertThat(p.program()).isEqualTo("iptables-save");
    assertThat(p.args()).containsExactly("-t", "nat");
    assertThat(p.save()).isTrue();
    assertThat(p.table()).isEqualTo("nat");
    assertThat(p.chain()).isNull();
    assertThat(p.piped()).isTrue();
    assertThat(p.filters()).containsExactly("grep KUBE-SVC");
    assertThat(p.grep()).isEqualTo("KUBE-SVC");
    assertThat(p.grepKeeps("KUBE-SVC-L65ENXXZWWSAPRCR")).isTrue();
    assertThat(p.grepKeeps("KUBE-SEP-HL43S2RPGOP5RW4C")).isFalse();
    assertThat(PastedInput.ofCommand(p)).isEqualTo(PastedInput.Kind.IPTABLES);
  }

  @Test
  void parse_listingOfOneNatChain_tableAndChainUnpiped() {
    Prompt p = Prompt.parse("iptables -t nat -nvL KUBE-SERVICES");
    assertThat(p.iptables()).isTrue();
    assertThat(p.save()).isFalse();
    assertThat(p.table()).isEqualTo("nat");
    assertThat(p.chain()).isEqualTo("KUBE-SERVICES");
    assertThat(p.piped()).isFalse();
    assertThat(p.grep()).isNull();
  }

  @Test
  void parse_listingWithoutTable_isTheFilterTable() {
    Prompt p = Prompt.parse("iptables -L -n -v");
    assertThat(p.table()).isEqualTo("filter");
    assertThat(p.chain()).isNull();
  }

  @Test
  void parse_ipvsadmThroughHead_filteredNoGrepNoTable() {
    Prompt p = Prompt.parse("ipvsadm -Ln | head");
    assertThat(p.program()).isEqualTo("ipvsadm");
    assertThat(p.args()).containsExactly("-Ln");
    assertThat(p.piped()).isTrue();
    assertThat(p.filters()).containsExactly("head");
    assertThat(p.grep()).isNull();
    assertThat(p.table()).isNull();
    assertThat(PastedInput.ofCommand(p)).isEqualTo(PastedInput.Kind.IPVS);
  }

  @Test
  void parse_grepThatIsNoPlainSubstring_noGrepKept() {
    // -v keeps the lines WITHOUT the word; -E takes a regular expression: neither says a chain
    // named with the word is whole.
    assertThat(Prompt.parse("iptables-save | grep -v DOCKER").grep()).isNull();
    assertThat(Prompt.parse("iptables-save | grep -E 'KUBE-(SVC|SEP)'").grep()).isNull();
    assertThat(Prompt.parse("iptables-save | grep KUBE | grep SVC").grep()).isNull();
    Prompt i = Prompt.parse("iptables-save | grep -i kube-svc");
    assertThat(i.grepKeeps("KUBE-SVC-X")).isTrue();
    assertThat(i.grepIgnoreCase()).isTrue();
  }

  @Test
  void parse_envAndVariablesInFront_programFound() {
    Prompt p = Prompt.parse("env LANG=C sudo /usr/sbin/iptables-legacy-save -t filter");
    assertThat(p.program()).isEqualTo("iptables-legacy-save");
    assertThat(p.table()).isEqualTo("filter");
    assertThat(PastedInput.ofCommand(p)).isEqualTo(PastedInput.Kind.IPTABLES_LEGACY);
  }
}
