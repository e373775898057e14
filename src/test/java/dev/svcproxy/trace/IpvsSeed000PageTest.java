package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.html.RuleSources;
import dev.svcproxy.trace.html.TracePage;
import org.junit.jupiter.api.Test;

/**
 * Seed 000 drawn: the node's own connection to the kubernetes Service in IPVS mode goes to one of
 * three apiservers (rr, a third each), leaves with the VIP as its source, and its reply never comes
 * back: the page draws the IPVS step and the three branches and marks the lost reply.
 */
class IpvsSeed000PageTest {
  @Test
  void page_seed000FailingNode_drawsIpvsBranchesAndHighlightsTheLostReply() {
    TraceResult r = IpvsSeed000TraceTest.trace(IpvsSeed000TraceTest.FAILING);
    String html = TracePage.page(r, RuleSources.none());
    // Three real servers of weight 1 under rr: each gets a third of new connections.
    assertThat(html.split("p 0\\.3333 \\(33\\.3%\\)", -1)).hasSize(4);
    assertThat(html).contains("class=\"box shape-ipvs state-normal\"");
    for (int k = 1; k <= 3; k++) {
      assertThat(html)
          .contains(
              "<a href=\"#o"
                  + k
                  + "r0\" id=\"b-o"
                  + k
                  + "r0\" class=\"box shape-reply state-failing\">")
          .contains("reply LOST (REPLY_NOT_ROUTED_BACK)");
    }
    assertThat(html)
        .contains("Failing steps: <a href=\"#o1r0\">outcome 1, reply: REPLY_NOT_ROUTED_BACK");
  }
}
