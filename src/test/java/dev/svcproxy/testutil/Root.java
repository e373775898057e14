package dev.svcproxy.testutil;

import dev.svcproxy.kernel.ProcessCommandRunner;

/** Whether kernel tests can run here: they need root to make network namespaces. */
public final class Root {
  private Root() {}

  public static boolean available() {
    return new ProcessCommandRunner().run("id", "-u").stdout().strip().equals("0");
  }
}
