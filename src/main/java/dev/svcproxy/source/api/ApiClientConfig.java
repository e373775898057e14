package dev.svcproxy.source.api;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * How `run` reaches the API server, chosen as upstream kube-proxy chooses it: --kubeconfig (with
 * --master overriding its server), --master alone, or the in-cluster service account when neither
 * is given and its files exist. Never ~/.kube/config or $KUBECONFIG implicitly: a node agent that
 * silently used an operator's personal config would program the node from the wrong cluster.
 */
public final class ApiClientConfig {
  /** Where a Pod finds its service account (rest.InClusterConfig). */
  public static final Path SERVICE_ACCOUNT =
      Path.of("/var/run/secrets/kubernetes.io/serviceaccount");

  /**
   * The first reconnect delay after a broken watch or failed list; fabric8's reflector doubles it
   * up to 2^5 times (16 s), as client-go's reflector backs off from 800 ms to 30 s.
   */
  static final int RECONNECT_INTERVAL_MS = 500;

  private ApiClientConfig() {}

  /**
   * The API client config for these flags, or empty for the manifest source.
   *
   * @param manifests --manifests (exclusive with the API source)
   * @param kubeconfig --kubeconfig, or null
   * @param master --master, or null
   * @param serviceAccount the service account directory (token, ca.crt) for in-cluster config
   * @param env the environment (KUBERNETES_SERVICE_HOST/PORT for in-cluster config)
   */
  public static Optional<Config> choose(
      Path manifests,
      Path kubeconfig,
      String master,
      Path serviceAccount,
      Map<String, String> env) {
    boolean flags = kubeconfig != null || master != null && !master.isEmpty();
    if (manifests != null) {
      if (flags) {
        throw new IllegalArgumentException(
            "--manifests and --kubeconfig/--master exclude each other: read Services from files"
                + " or from the API server, not both");
      }
      return Optional.empty();
    }
    Config config;
    if (kubeconfig != null) {
      config = fromKubeconfig(kubeconfig);
    } else if (flags) {
      config = new ConfigBuilder(Config.empty()).build();
    } else if (inCluster(serviceAccount, env)) {
      config = inClusterConfig(serviceAccount, env);
    } else {
      throw new IllegalArgumentException(
          "no source of Services: pass --manifests PATH (files), --kubeconfig PATH (an API"
              + " server), or run in a Pod with a service account (in-cluster config)");
    }
    if (master != null && !master.isEmpty()) {
      config.setMasterUrl(master);
    }
    config.setWatchReconnectInterval(RECONNECT_INTERVAL_MS);
    // A failed list goes straight to the informer's own backoff (as client-go's reflector), not
    // through ten quiet HTTP-level retries first.
    config.setRequestRetryBackoffLimit(0);
    // Never give up on the API server: -1 is unlimited reconnects.
    config.setWatchReconnectLimit(-1);
    return Optional.of(config);
  }

  /** A client for {@code config}. */
  public static KubernetesClient client(Config config) {
    return new KubernetesClientBuilder().withConfig(config).build();
  }

  private static Config fromKubeconfig(Path path) {
    if (!Files.isReadable(path)) {
      throw new IllegalArgumentException("--kubeconfig " + path + ": cannot read the file");
    }
    try {
      // From the file, so that relative certificate paths resolve against its directory.
      return Config.fromKubeconfig(path.toFile());
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "--kubeconfig " + path + ": not a usable kubeconfig (" + e.getMessage() + ")");
    }
  }

  private static boolean inCluster(Path sa, Map<String, String> env) {
    return env.getOrDefault("KUBERNETES_SERVICE_HOST", "").length() > 0
        && env.getOrDefault("KUBERNETES_SERVICE_PORT", "").length() > 0
        && Files.isRegularFile(sa.resolve("token"));
  }

  /**
   * rest.InClusterConfig: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the service
   * account's CA, and its token read again at each request (bound tokens are rotated on disk).
   */
  private static Config inClusterConfig(Path sa, Map<String, String> env) {
    String host = env.get("KUBERNETES_SERVICE_HOST");
    String url =
        "https://"
            + (host.contains(":") ? "[" + host + "]" : host)
            + ":"
            + env.get("KUBERNETES_SERVICE_PORT");
    Path token = sa.resolve("token");
    ConfigBuilder b =
        new ConfigBuilder(Config.empty())
            .withMasterUrl(url)
            .withOauthTokenProvider(() -> readToken(token));
    Path ca = sa.resolve("ca.crt");
    if (Files.isRegularFile(ca)) {
      b.withCaCertFile(ca.toString());
    }
    return b.build();
  }

  private static String readToken(Path token) {
    try {
      return Files.readString(token, StandardCharsets.UTF_8).strip();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
