package dev.svcproxy.netfilter.match;

/** A 32-bit mark test "value/mask": a mark matches when {@code (mark & mask) == value}. */
public record MarkMask(long value, long mask) {
  public MarkMask {
    if (value < 0 || value > 0xFFFFFFFFL || mask < 0 || mask > 0xFFFFFFFFL) {
      throw new IllegalArgumentException("not a 32-bit value/mask");
    }
  }

  public boolean matches(long mark) {
    return (mark & mask) == value;
  }

  @Override
  public String toString() {
    return "0x" + Long.toHexString(value) + "/0x" + Long.toHexString(mask);
  }
}
