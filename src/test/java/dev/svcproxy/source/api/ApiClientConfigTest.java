package dev.svcproxy.source.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.client.Config;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How `run` picks its API server, as upstream kube-proxy does; never ~/.kube/config by itself. */
class ApiClientConfigTest {
  @TempDir Path dir;

  private static final Map<String, String> IN_CLUSTER_ENV =
      Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1", "KUBERNETES_SERVICE_PORT", "443");

  @Test
  void choose_manifestsOnly_isTheManifestSource() {
    assertThat(ApiClientConfig.choose(dir, null, null, dir, IN_CLUSTER_ENV)).isEmpty();
  }

  @Test
  void choose_manifestsAndKubeconfig_isAnError() {
    assertThatThrownBy(() -> ApiClientConfig.choose(dir, dir.resolve("kc"), null, dir, Map.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--manifests and --kubeconfig/--master exclude each other");
  }

  @Test
  void choose_nothingAndNoServiceAccount_saysWhatToPass() throws Exception {
    // A personal kubeconfig where client libraries look by default must not be picked up.
    Path home = Files.createDirectories(dir.resolve("home/.kube"));
    Files.writeString(home.resolve("config"), MockApiServer.kubeconfig("http://127.0.0.1:1"));
    assertThatThrownBy(
            () ->
                ApiClientConfig.choose(
                    null,
                    null,
                    null,
                    dir.resolve("no-sa"),
                    Map.of(
                        "HOME",
                        dir.resolve("home").toString(),
                        "KUBECONFIG",
                        home.resolve("config").toString())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--manifests PATH")
        .hasMessageContaining("--kubeconfig PATH");
  }

  @Test
  void choose_kubeconfig_usesItsServer_andMasterOverridesIt() throws Exception {
    Path kc = dir.resolve("kubeconfig");
    Files.writeString(kc, MockApiServer.kubeconfig("https://10.1.2.3:6443"));
    Config c = ApiClientConfig.choose(null, kc, null, dir, Map.of()).orElseThrow();
    assertThat(c.getMasterUrl()).startsWith("https://10.1.2.3:6443");
    assertThat(c.getOauthToken() != null ? c.getOauthToken() : c.getAutoOAuthToken())
        .isEqualTo("mock-token");
    Config m =
        ApiClientConfig.choose(null, kc, "https://10.9.9.9:443", dir, Map.of()).orElseThrow();
    assertThat(m.getMasterUrl()).startsWith("https://10.9.9.9:443");
  }

  @Test
  void choose_kubeconfig_reconnectsForever() throws Exception {
    Path kc = dir.resolve("kubeconfig");
    Files.writeString(kc, MockApiServer.kubeconfig("https://10.1.2.3:6443"));
    Config c = ApiClientConfig.choose(null, kc, null, dir, Map.of()).orElseThrow();
    assertThat(c.getWatchReconnectLimit()).isEqualTo(-1);
    assertThat(c.getWatchReconnectInterval()).isPositive();
  }

  @Test
  void choose_missingKubeconfig_namesTheFile() {
    Path kc = dir.resolve("absent");
    assertThatThrownBy(() -> ApiClientConfig.choose(null, kc, null, dir, Map.of()))
        .hasMessageContaining("--kubeconfig " + kc);
  }

  @Test
  void choose_inCluster_serviceAccountAndEnvironment() throws Exception {
    Path sa = Files.createDirectories(dir.resolve("sa"));
    Files.writeString(sa.resolve("token"), "sa-token-1\n");
    Config c = ApiClientConfig.choose(null, null, null, sa, IN_CLUSTER_ENV).orElseThrow();
    assertThat(c.getMasterUrl()).startsWith("https://10.96.0.1:443");
    // Bound tokens are rotated on disk: each request reads the file again.
    assertThat(c.getOauthTokenProvider().getToken()).isEqualTo("sa-token-1");
    Files.writeString(sa.resolve("token"), "sa-token-2\n");
    assertThat(c.getOauthTokenProvider().getToken()).isEqualTo("sa-token-2");
  }
}
