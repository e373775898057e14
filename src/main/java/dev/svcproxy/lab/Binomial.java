package dev.svcproxy.lab;

/** Binomial tails, to judge whether a count of n random trials fits a probability. */
public final class Binomial {
  private Binomial() {}

  /**
   * The smaller tail at {@code k} of Binomial(n, p): min(P(X <= k), P(X >= k)). A count whose tail
   * is tiny is not what p predicts.
   */
  public static double tail(int n, double p, int k) {
    if (k < 0 || k > n) {
      throw new IllegalArgumentException("count " + k + " out of 0.." + n);
    }
    double[] pmf = pmf(n, p);
    double below = 0;
    for (int i = 0; i <= k; i++) {
      below += pmf[i];
    }
    double above = 0;
    for (int i = k; i <= n; i++) {
      above += pmf[i];
    }
    return Math.min(1.0, Math.min(below, above));
  }

  /** P(X = i) for i in 0..n, in log space so that large n neither underflows nor overflows. */
  static double[] pmf(int n, double p) {
    double[] out = new double[n + 1];
    if (p <= 0 || p >= 1) {
      out[p <= 0 ? 0 : n] = 1;
      return out;
    }
    double logC = 0; // log C(n, i), built up term by term.
    for (int i = 0; i <= n; i++) {
      if (i > 0) {
        logC += Math.log(n - i + 1) - Math.log(i);
      }
      out[i] = Math.exp(logC + i * Math.log(p) + (n - i) * Math.log1p(-p));
    }
    return out;
  }
}
