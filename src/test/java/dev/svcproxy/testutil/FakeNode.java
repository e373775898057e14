package dev.svcproxy.testutil;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.RecordingCommandRunner;

/** A recording runner that answers `ip -j -4 addr` like upstream's test node (192.168.0.2). */
public final class FakeNode {
  public static final String IP_ADDR_JSON =
      "[{\"ifname\":\"lo\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8}]},"
          + "{\"ifname\":\"eth0\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.0.2\",\"prefixlen\":24},"
          + "{\"family\":\"inet\",\"local\":\"192.168.1.2\",\"prefixlen\":24}]}]";

  private FakeNode() {}

  public static RecordingCommandRunner runner() {
    return new RecordingCommandRunner(
        c ->
            c.line().startsWith("ip -j -4 addr")
                ? new CommandResult(c.argv(), 0, IP_ADDR_JSON, "")
                : new CommandResult(c.argv(), 0, "", ""));
  }
}
