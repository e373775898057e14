package dev.svcproxy.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** Binomial tails against values worked out by hand. */
class BinomialTest {

  @Test
  void tail_twoOfThirtyFair_isTheLowerTail() {
    // P(X <= 2) = (1 + 30 + 435) / 2^30.
    assertThat(Binomial.tail(30, 0.5, 2)).isCloseTo(466 / 1073741824.0, within(1e-15));
  }

  @Test
  void tail_noneOfFiftyAtAQuarter_isThreeQuartersToTheFiftieth() {
    assertThat(Binomial.tail(50, 0.25, 0)).isCloseTo(Math.pow(0.75, 50), within(1e-18));
    assertThat(Binomial.tail(50, 0.25, 0)).isLessThan(Differential.TAIL);
  }

  @Test
  void tail_allOfTenAtNinetyPercent_isTheUpperTail() {
    assertThat(Binomial.tail(10, 0.9, 10)).isCloseTo(Math.pow(0.9, 10), within(1e-15));
  }

  @Test
  void tail_theMiddle_isAboutAHalf() {
    // P(X <= 25) for Binomial(50, 1/2) = 1/2 + P(X = 25) / 2 = 0.5561.
    assertThat(Binomial.tail(50, 0.5, 25)).isCloseTo(0.5561, within(1e-4));
  }

  @Test
  void tail_certainOutcome_allOrNothing() {
    assertThat(Binomial.tail(5, 1.0, 5)).isEqualTo(1.0);
    assertThat(Binomial.tail(5, 1.0, 4)).isEqualTo(0.0);
  }
}
