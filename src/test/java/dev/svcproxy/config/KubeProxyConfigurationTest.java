package dev.svcproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Reading, defaulting, validating and writing KubeProxyConfiguration v1alpha1. Expected values come
 * from upstream: k8s.io/kube-proxy/config/v1alpha1/types.go (fields),
 * pkg/proxy/apis/config/v1alpha1/defaults.go (defaults),
 * pkg/proxy/apis/config/validation/validation.go (checks and messages),
 * pkg/proxy/apis/config/scheme/testdata/KubeProxyConfiguration/roundtrip/default/v1alpha1.yaml
 * (what --write-config-to prints for an empty configuration).
 */
class KubeProxyConfigurationTest {
  private static final String HEAD =
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

  /**
   * The ConfigMap kubeadm (v1.31) writes for kube-proxy: every field present, most of them null or
   * zero, so that the defaults apply (as published in kubeadm clusters' kube-system/kube-proxy).
   */
  static final String KUBEADM =
      HEAD
          + """
          bindAddress: 0.0.0.0
          bindAddressHardFail: false
          clientConnection:
            acceptContentTypes: ""
            burst: 0
            contentType: ""
            kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
            qps: 0
          clusterCIDR: 10.244.0.0/16
          configSyncPeriod: 0s
          conntrack:
            maxPerCore: null
            min: null
            tcpBeLiberal: false
            tcpCloseWaitTimeout: null
            tcpEstablishedTimeout: null
            udpStreamTimeout: 0s
            udpTimeout: 0s
          detectLocal:
            bridgeInterface: ""
            interfaceNamePrefix: ""
          detectLocalMode: ""
          enableProfiling: false
          healthzBindAddress: ""
          hostnameOverride: ""
          iptables:
            localhostNodePorts: null
            masqueradeAll: false
            masqueradeBit: null
            minSyncPeriod: 0s
            syncPeriod: 0s
          ipvs:
            excludeCIDRs: null
            minSyncPeriod: 0s
            scheduler: ""
            strictARP: false
            syncPeriod: 0s
            tcpFinTimeout: 0s
            tcpTimeout: 0s
            udpTimeout: 0s
          logging:
            flushFrequency: 0
            options:
              json:
                infoBufferSize: "0"
              text:
                infoBufferSize: "0"
            verbosity: 0
          metricsBindAddress: ""
          mode: ""
          nftables:
            masqueradeAll: false
            masqueradeBit: null
            minSyncPeriod: 0s
            syncPeriod: 0s
          nodePortAddresses: null
          oomScoreAdj: null
          portRange: ""
          showHiddenMetricsForVersion: ""
          winkernel:
            enableDSR: false
            forwardHealthCheckVip: false
            networkName: ""
            rootHnsEndpointName: ""
            sourceVip: ""
          """;

  @Test
  void parse_kubeadmConfigMap_takesUpstreamDefaults() {
    KubeProxyConfiguration c = KubeProxyConfiguration.parse(KUBEADM);
    c.withFlags(Map.of());
    assertThat(c.warnings()).isEmpty();
    assertThat(c.get("clientConnection.kubeconfig"))
        .isEqualTo("/var/lib/kube-proxy/kubeconfig.conf");
    assertThat(c.get("clusterCIDR")).isEqualTo("10.244.0.0/16");
    // defaults.go: zero periods and nil pointers take the defaults...
    assertThat(c.get("iptables.syncPeriod")).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.get("iptables.minSyncPeriod")).isEqualTo(Duration.ofSeconds(1));
    assertThat(c.get("iptables.masqueradeBit")).isEqualTo(14);
    assertThat(c.get("iptables.localhostNodePorts")).isEqualTo(true);
    assertThat(c.get("conntrack.maxPerCore")).isEqualTo(32768);
    assertThat(c.get("conntrack.min")).isEqualTo(131072);
    assertThat(c.get("conntrack.tcpEstablishedTimeout")).isEqualTo(Duration.ofHours(24));
    assertThat(c.get("conntrack.tcpCloseWaitTimeout")).isEqualTo(Duration.ofHours(1));
    assertThat(c.get("configSyncPeriod")).isEqualTo(Duration.ofMinutes(15));
    assertThat(c.get("healthzBindAddress")).isEqualTo("0.0.0.0:10256");
    assertThat(c.get("metricsBindAddress")).isEqualTo("127.0.0.1:10249");
    assertThat(c.get("clientConnection.qps")).isEqualTo(5.0);
    assertThat(c.get("clientConnection.burst")).isEqualTo(10);
    // ...while a zero in a field without a zero check stays zero.
    assertThat(c.get("conntrack.udpTimeout")).isEqualTo(Duration.ZERO);
    assertThat(c.get("ipvs.minSyncPeriod")).isEqualTo(Duration.ZERO);
  }

  @Test
  void parse_explicitZeroInPointerField_keptNotDefaulted() {
    // tcpEstablishedTimeout is a *metav1.Duration: 0s means "leave the sysctl alone".
    KubeProxyConfiguration c =
        KubeProxyConfiguration.parse(
            HEAD
                + "conntrack:\n  maxPerCore: 0\n  tcpEstablishedTimeout: 0s\n"
                + "iptables:\n  masqueradeBit: 0\n  localhostNodePorts: false\n");
    assertThat(c.get("conntrack.maxPerCore")).isEqualTo(0);
    assertThat(c.get("conntrack.tcpEstablishedTimeout")).isEqualTo(Duration.ZERO);
    assertThat(c.get("iptables.masqueradeBit")).isEqualTo(0);
    assertThat(c.get("iptables.localhostNodePorts")).isEqualTo(false);
  }

  @Test
  void parse_json_accepted() {
    KubeProxyConfiguration c =
        KubeProxyConfiguration.parse(
            "{\"apiVersion\":\"kubeproxy.config.k8s.io/v1alpha1\",\"kind\":\"KubeProxyConfiguration\","
                + "\"mode\":\"ipvs\",\"ipvs\":{\"scheduler\":\"lc\",\"excludeCIDRs\":[\"10.0.0.0/8\"]}}");
    assertThat(c.get("mode")).isEqualTo("ipvs");
    assertThat(c.get("ipvs.scheduler")).isEqualTo("lc");
    assertThat(c.get("ipvs.excludeCIDRs")).isEqualTo(List.of("10.0.0.0/8"));
  }

  @Test
  void parse_unknownFields_strictDecodingErrorNamesEach() {
    assertThatThrownBy(
            () ->
                KubeProxyConfiguration.parse(
                    HEAD + "mode: ipvs\nproxyMode: ipvs\niptables:\n  masqueradeBits: 3\n"))
        .isInstanceOf(ConfigException.class)
        .hasMessage(
            "strict decoding error: unknown field \"proxyMode\", unknown field"
                + " \"iptables.masqueradeBits\"");
  }

  @Test
  void parse_fieldNameInOtherCase_unknown() {
    // Strict decoding is case-sensitive (sigs.k8s.io/json).
    assertThatThrownBy(() -> KubeProxyConfiguration.parse(HEAD + "Mode: ipvs\n"))
        .hasMessage("strict decoding error: unknown field \"Mode\"");
  }

  @Test
  void parse_duplicateField_rejected() {
    assertThatThrownBy(() -> KubeProxyConfiguration.parse(HEAD + "mode: ipvs\nmode: iptables\n"))
        .hasMessageContaining("Duplicate field 'mode'");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "apiVersion: kubeproxy.config.k8s.io/v1alpha2\\nkind: KubeProxyConfiguration"
            + "|no kind \"KubeProxyConfiguration\" is registered for version"
            + " \"kubeproxy.config.k8s.io/v1alpha2\"",
        "kind: KubeProxyConfiguration|no kind \"KubeProxyConfiguration\" is registered for"
            + " version \"\"",
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\\nkind: KubeletConfiguration"
            + "|kind \"KubeletConfiguration\" is not KubeProxyConfiguration",
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1|Object 'Kind' is missing",
      })
  void parse_wrongTypeMeta_rejected(String text, String message) {
    assertThatThrownBy(() -> KubeProxyConfiguration.parse(text.replace("\\n", "\n")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(message);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "iptables: {masqueradeBit: abc}|json: cannot unmarshal string into field"
            + " iptables.masqueradeBit of type int32",
        "iptables: {syncPeriod: 30}|json: cannot unmarshal number into field iptables.syncPeriod"
            + " of type duration",
        "iptables: {syncPeriod: 30x}|iptables.syncPeriod: time: invalid duration \"30x\"",
        "nodePortAddresses: 10.0.0.0/8|json: cannot unmarshal string into field"
            + " nodePortAddresses of type []string",
        "iptables: true|json: cannot unmarshal bool into field iptables of type object",
        "masqueradeAll: yes please|unknown field \"masqueradeAll\"",
      })
  void parse_wrongType_errorNamesField(String body, String message) {
    assertThatThrownBy(() -> KubeProxyConfiguration.parse(HEAD + body + "\n"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(message);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        // validation.go's messages, with the field's JSON path.
        "iptables: {masqueradeBit: 32}|KubeProxyConfiguration.iptables.masqueradeBit: Invalid"
            + " value: 32: must be within the range [0, 31]",
        "iptables: {masqueradeBit: -1}|KubeProxyConfiguration.iptables.masqueradeBit: Invalid"
            + " value: -1: must be within the range [0, 31]",
        "iptables: {syncPeriod: -1s}|KubeProxyConfiguration.iptables.syncPeriod: Invalid value:"
            + " \"-1s\": must be greater than 0",
        "iptables: {minSyncPeriod: 1m, syncPeriod: 30s}|KubeProxyConfiguration.iptables.syncPeriod:"
            + " Invalid value: \"1m0s\": must be greater than or equal to"
            + " KubeProxyConfiguration.iptables.minSyncPeriod",
        "mode: ipvs\\nipvs: {scheduler: fastest}|KubeProxyConfiguration.ipvs.scheduler: Invalid"
            + " value: \"fastest\": must be in [rr wrr lc wlc lblc lblcr sh dh sed nq mh ]",
        "mode: ipvs\\nipvs: {tcpTimeout: -5s}|KubeProxyConfiguration.ipvs.tcpTimeout: Invalid"
            + " value: \"-5s\": must be greater than or equal to 0",
        "mode: userspace|KubeProxyConfiguration.mode: Invalid value: \"userspace\": must be"
            + " iptables, ipvs or nftables or blank",
        "conntrack: {maxPerCore: -1}|KubeProxyConfiguration.conntrack.maxPerCore: Invalid value:"
            + " -1: must be greater than or equal to 0",
        "conntrack: {tcpCloseWaitTimeout: -1h}|KubeProxyConfiguration.conntrack.tcpCloseWaitTimeout:"
            + " Invalid value: \"-1h0m0s\": must be greater than or equal to 0",
        "oomScoreAdj: 1001|KubeProxyConfiguration.oomScoreAdj: Invalid value: 1001: must be within"
            + " the range [-1000, 1000]",
        "clientConnection: {burst: -1}|KubeProxyConfiguration.clientConnection.burst: Invalid"
            + " value: -1: must be greater than or equal to 0",
        "configSyncPeriod: -1m|KubeProxyConfiguration.configSyncPeriod: Invalid value: \"-1m0s\":"
            + " must be greater than 0",
        "bindAddress: 10.0.0|KubeProxyConfiguration.bindAddress: Invalid value: \"10.0.0\": not a"
            + " valid textual representation of an IP address",
        "healthzBindAddress: localhost:10256|KubeProxyConfiguration.healthzBindAddress: Invalid"
            + " value: \"localhost\": must be a valid IP",
        "metricsBindAddress: 127.0.0.1:0|KubeProxyConfiguration.metricsBindAddress: Invalid value:"
            + " \"0\": must be a valid port",
        "metricsBindAddress: nowhere|KubeProxyConfiguration.metricsBindAddress: Invalid value:"
            + " \"nowhere\": must be IP:port",
        "clusterCIDR: 10.0.0.0/8,10.1.0.0/16|KubeProxyConfiguration.clusterCIDR: Invalid value:"
            + " \"10.0.0.0/8,10.1.0.0/16\": must be a valid DualStack CIDR",
        "clusterCIDR: 10.0.0.0/33|KubeProxyConfiguration.clusterCIDR: Invalid value:"
            + " \"10.0.0.0/33\": must be a valid CIDR block",
        "nodePortAddresses: [10.0.0.0/8, nodes]|KubeProxyConfiguration.nodePortAddresses: Invalid"
            + " value: [10.0.0.0/8, nodes]: must be a valid CIDR",
        "detectLocalMode: BridgeInterface|KubeProxyConfiguration.detectLocal.bridgeInterface:"
            + " Invalid value: \"\": must not be empty",
        "detectLocalMode: PodCIDR|KubeProxyConfiguration.detectLocalMode: Invalid value:"
            + " \"PodCIDR\"",
        // svcproxy's own refusals: ignoring these would change behaviour silently.
        "logging: {format: json}|KubeProxyConfiguration.logging.format: Invalid value: \"json\"",
        "iptables: {snatNodeInternalIP: true}|KubeProxyConfiguration.iptables.snatNodeInternalIP:"
            + " Invalid value: true: not implemented by svcproxy",
      })
  void withFlags_invalidValueInFile_upstreamMessage(String body, String message) {
    KubeProxyConfiguration c = KubeProxyConfiguration.parse(HEAD + body.replace("\\n", "\n"));
    assertThatThrownBy(() -> c.withFlags(Map.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(message);
  }

  @Test
  void withFlags_ipvsSectionNotValidatedInIptablesMode() {
    // validation.go checks KubeProxyIPVSConfiguration only when mode is ipvs.
    KubeProxyConfiguration.parse(HEAD + "ipvs: {scheduler: fastest, tcpTimeout: -1s}\n")
        .withFlags(Map.of());
  }

  @Test
  void withFlags_twoErrors_aggregatedInBrackets() {
    KubeProxyConfiguration c =
        KubeProxyConfiguration.parse(HEAD + "oomScoreAdj: 2000\niptables: {masqueradeBit: 40}\n");
    assertThatThrownBy(() -> c.withFlags(Map.of()))
        .hasMessage(
            "[KubeProxyConfiguration.iptables.masqueradeBit: Invalid value: 40: must be within the"
                + " range [0, 31], KubeProxyConfiguration.oomScoreAdj: Invalid value: 2000: must be"
                + " within the range [-1000, 1000]]");
  }

  @Test
  void withFlags_flagOverridesBadFileValue_fileErrorDropped() {
    KubeProxyConfiguration c =
        KubeProxyConfiguration.parse(HEAD + "iptables: {masqueradeBit: 40}\n")
            .withFlags(Map.of("--masquerade-bit", 5));
    assertThat(c.get("iptables.masqueradeBit")).isEqualTo(5);
    assertThat(c.flagValue("--masquerade-bit")).isEqualTo(5);
  }

  @Test
  void flagValue_fileValues_inFlagForms() {
    KubeProxyConfiguration c =
        KubeProxyConfiguration.parse(
                HEAD
                    + "bindAddress: 192.168.1.10\nhostnameOverride: Node-A\n"
                    + "clusterCIDR: 10.244.0.0/16,fd00::/48\n"
                    + "conntrack: {tcpEstablishedTimeout: 2h}\nlogging: {verbosity: 4}\n")
            .withFlags(Map.of());
    assertThat(c.flagValue("--node-ip")).isEqualTo("192.168.1.10");
    assertThat(c.flagValue("--hostname-override")).isEqualTo("node-a");
    assertThat(c.flagValue("--cluster-cidr")).isEqualTo(List.of("10.244.0.0/16", "fd00::/48"));
    assertThat(c.flagValue("--conntrack-tcp-timeout-established")).isEqualTo("2h0m0s");
    assertThat(c.flagValue("-v")).isEqualTo(4);
    KubeProxyConfiguration d = KubeProxyConfiguration.defaults();
    assertThat(d.flagValue("--node-ip")).isNull();
    assertThat(d.flagValue("--kubeconfig")).isNull();
    assertThat(d.flagValue("--cluster-cidr")).isEqualTo(List.of());
  }

  @Test
  void parse_bareIpBindAddresses_getDefaultPorts() {
    // AppendPortIfNeeded in defaults.go.
    KubeProxyConfiguration c =
        KubeProxyConfiguration.parse(
            HEAD + "healthzBindAddress: 10.0.0.1\nmetricsBindAddress: ::1\n");
    assertThat(c.get("healthzBindAddress")).isEqualTo("10.0.0.1:10256");
    assertThat(c.get("metricsBindAddress")).isEqualTo("[::1]:10249");
  }

  @Test
  void parse_ignoredFieldsWithValues_warnedOnePerField() {
    KubeProxyConfiguration c =
        KubeProxyConfiguration.parse(
            HEAD
                + "featureGates: {ServiceTrafficDistribution: true}\n"
                + "clientConnection: {qps: 50, burst: 10}\n"
                + "enableProfiling: true\noomScoreAdj: -999\n"
                + "winkernel: {enableDSR: true}\n");
    assertThat(c.warnings())
        .containsExactly(
            "config field featureGates is not implemented by svcproxy and is ignored (value"
                + " {ServiceTrafficDistribution=true})",
            "config field clientConnection.qps is not implemented by svcproxy and is ignored"
                + " (value 50.0)",
            "config field enableProfiling is not implemented by svcproxy and is ignored (value"
                + " true)");
  }

  /**
   * upstream's roundtrip/default/v1alpha1.yaml, with the fields added since (nftables, logging,
   * conntrack.udp*, tcpBeLiberal, iptables.snatNodeInternalIP) at their defaults, and the three
   * values svcproxy fills in where upstream leaves "" (mode, detectLocalMode, ipvs.scheduler).
   */
  static final String DEFAULTS_YAML =
      """
      apiVersion: kubeproxy.config.k8s.io/v1alpha1
      bindAddress: 0.0.0.0
      bindAddressHardFail: false
      clientConnection:
        acceptContentTypes: ""
        burst: 10
        contentType: application/vnd.kubernetes.protobuf
        kubeconfig: ""
        qps: 5
      clusterCIDR: ""
      configSyncPeriod: 15m0s
      conntrack:
        maxPerCore: 32768
        min: 131072
        tcpBeLiberal: false
        tcpCloseWaitTimeout: 1h0m0s
        tcpEstablishedTimeout: 24h0m0s
        udpStreamTimeout: 0s
        udpTimeout: 0s
      detectLocal:
        bridgeInterface: ""
        interfaceNamePrefix: ""
      detectLocalMode: ClusterCIDR
      enableProfiling: false
      healthzBindAddress: 0.0.0.0:10256
      hostnameOverride: ""
      iptables:
        localhostNodePorts: true
        masqueradeAll: false
        masqueradeBit: 14
        minSyncPeriod: 1s
        snatNodeInternalIP: false
        syncPeriod: 30s
      ipvs:
        excludeCIDRs: null
        minSyncPeriod: 0s
        scheduler: rr
        strictARP: false
        syncPeriod: 30s
        tcpFinTimeout: 0s
        tcpTimeout: 0s
        udpTimeout: 0s
      kind: KubeProxyConfiguration
      logging:
        flushFrequency: 5s
        format: text
        options:
          json:
            infoBufferSize: "0"
          text:
            infoBufferSize: "0"
        verbosity: 0
      metricsBindAddress: 127.0.0.1:10249
      mode: iptables
      nftables:
        masqueradeAll: false
        masqueradeBit: 14
        minSyncPeriod: 1s
        syncPeriod: 30s
      nodePortAddresses: null
      oomScoreAdj: -999
      portRange: ""
      showHiddenMetricsForVersion: ""
      winkernel:
        enableDSR: false
        forwardHealthCheckVip: false
        networkName: ""
        rootHnsEndpointName: ""
        sourceVip: ""
      """;

  @Test
  void toYaml_defaults_asUpstreamWritesThem() {
    assertThat(KubeProxyConfiguration.defaults().toYaml()).isEqualTo(DEFAULTS_YAML);
  }

  @Test
  void toYaml_readBack_sameValues() {
    KubeProxyConfiguration c =
        KubeProxyConfiguration.parse(
                HEAD
                    + "mode: ipvs\nipvs: {excludeCIDRs: [10.0.0.0/8], syncPeriod: 1m30s}\n"
                    + "featureGates: {A: true}\nnodePortAddresses: [primary]\n")
            .withFlags(Map.of("--masquerade-all", true));
    KubeProxyConfiguration back = KubeProxyConfiguration.parse(c.toYaml());
    assertThat(back.toString()).isEqualTo(c.toString());
    assertThat(c.toYaml())
        .contains("featureGates:\n  A: true\n")
        .contains("nodePortAddresses:\n- primary\n")
        .contains("  syncPeriod: 1m30s\n")
        .contains("  masqueradeAll: true\n");
  }
}
