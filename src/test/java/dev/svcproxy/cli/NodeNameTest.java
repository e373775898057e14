package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The node name defaults to the hostname, trimmed and lower-cased, as upstream's
 * nodeutil.GetHostname (pkg/util/node) does for kube-proxy; --hostname-override is lower-cased too
 * (cmd/kube-proxy/app/server.go processHostnameOverrideFlag).
 */
class NodeNameTest {
  private static ProxyOptions options(String hostname, String... args) {
    ProxyOptions o = CommandLine.populateCommand(new ProxyOptions(), args);
    o.hostname = () -> hostname;
    return o;
  }

  @Test
  void validate_noNodeName_hostnameLowerCased() {
    ProxyOptions o = options("Worker-7.Example.COM\n");
    o.validate();
    assertThat(o.nodeName).isEqualTo("worker-7.example.com");
  }

  @Test
  void validate_hostnameOverride_lowerCasedAndTrimmed() {
    ProxyOptions o = options("ignored", "--hostname-override", " MyNode ");
    o.validate();
    assertThat(o.nodeName).isEqualTo("mynode");
  }

  @Test
  void validate_emptyHostname_errorAsksForOverride() {
    ProxyOptions o = options("  \n");
    assertThatThrownBy(o::validate).hasMessageContaining("give --hostname-override");
  }

  @Test
  void validate_blankNodeName_rejected() {
    ProxyOptions o = options("host", "--node-name", " ");
    assertThatThrownBy(o::validate).hasMessage("--node-name must not be empty");
  }
}
