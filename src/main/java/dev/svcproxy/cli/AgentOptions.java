package dev.svcproxy.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The flags only the node agent (`run`) has, named and defaulted as upstream kube-proxy's: the API
 * source, the healthz and metrics servers, conntrack tuning, the config file and verbosity.
 */
public final class AgentOptions {
  @Option(
      names = "--kubeconfig",
      paramLabel = "PATH",
      description =
          "Read Services, EndpointSlices, this Node and ServiceCIDRs from the API server.")
  Path kubeconfig;

  @Option(
      names = "--master",
      paramLabel = "URL",
      description = "The API server's address (overrides the kubeconfig's server).")
  String master;

  @Option(
      names = "--config-sync-period",
      defaultValue = "15m",
      paramLabel = "DURATION",
      description = "How often the informers resync from their caches (upstream: 15m; > 0).")
  String configSyncPeriod;

  @Option(
      names = "--healthz-bind-address",
      defaultValue = "0.0.0.0:10256",
      paramLabel = "IP:PORT",
      description = "Where /healthz and /livez listen (empty disables).")
  String healthzBindAddress;

  @Option(
      names = "--metrics-bind-address",
      defaultValue = "127.0.0.1:10249",
      paramLabel = "IP:PORT",
      description = "Where /metrics and /proxyMode listen (empty disables).")
  String metricsBindAddress;

  @Option(
      names = "--bind-address-hard-fail",
      description = "Exit when the healthz or metrics server cannot bind (default: retry).")
  boolean bindAddressHardFail;

  @Option(
      names = "--conntrack-max-per-core",
      defaultValue = "32768",
      paramLabel = "N",
      description = "nf_conntrack_max per CPU core (0 leaves the limit as it is).")
  int conntrackMaxPerCore;

  @Option(
      names = "--conntrack-min",
      defaultValue = "131072",
      paramLabel = "N",
      description = "The least nf_conntrack_max to set, whatever the core count.")
  int conntrackMin;

  @Option(
      names = "--conntrack-tcp-timeout-established",
      defaultValue = "24h",
      paramLabel = "DURATION",
      description = "nf_conntrack_tcp_timeout_established (0 leaves it as it is).")
  String conntrackTcpTimeoutEstablished;

  @Option(
      names = "--conntrack-tcp-timeout-close-wait",
      defaultValue = "1h",
      paramLabel = "DURATION",
      description = "nf_conntrack_tcp_timeout_close_wait (0 leaves it as it is).")
  String conntrackTcpTimeoutCloseWait;

  @Option(
      names = "--conntrack-tcp-be-liberal",
      description =
          "Set nf_conntrack_tcp_be_liberal=1 (do not mark out-of-window packets INVALID).")
  boolean conntrackTcpBeLiberal;

  @Option(
      names = "--conntrack-udp-timeout",
      defaultValue = "0",
      paramLabel = "DURATION",
      description = "nf_conntrack_udp_timeout (0 leaves it as it is).")
  String conntrackUdpTimeout;

  @Option(
      names = "--conntrack-udp-timeout-stream",
      defaultValue = "0",
      paramLabel = "DURATION",
      description = "nf_conntrack_udp_timeout_stream (0 leaves it as it is).")
  String conntrackUdpTimeoutStream;

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description =
          "A KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1); flags override it.")
  Path config;

  @Option(
      names = "--write-config-to",
      paramLabel = "FILE",
      description = "Write the effective configuration to FILE and exit.")
  Path writeConfigTo;

  @Option(
      names = {"-v", "--v"},
      defaultValue = "0",
      paramLabel = "N",
      description = "Log verbosity as upstream's klog levels (0 info, 2 more, 4+ debug).")
  int verbosity;
}
