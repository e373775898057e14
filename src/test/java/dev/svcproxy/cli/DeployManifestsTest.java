package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.config.KubeProxyConfiguration;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * deploy/ parses as Kubernetes objects (fabric8's typed model, no API server), with no field the
 * model does not know (a typo would land in additionalProperties); the DaemonSet is laid out as
 * kubeadm's kube-proxy DaemonSet (cmd/kubeadm/app/phases/addons/proxy/manifests.go), its probe hits
 * the healthz port our defaults listen on, its command line is one svcproxy run accepts, the RBAC
 * rules are exactly the least-privilege set, and the ConfigMap's configuration passes our reader.
 */
class DeployManifestsTest {
  private static final Path DEPLOY = Path.of("deploy");
  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  @TempDir Path dir;

  private static <T extends HasMetadata> T load(String file, Class<T> type) throws IOException {
    try (InputStream in = Files.newInputStream(DEPLOY.resolve(file))) {
      Object o = SERIALIZATION.unmarshal(in);
      assertThat(o).as(file).isInstanceOf(type);
      T t = type.cast(o);
      assertThat(unknownFields(t, "", new IdentityHashMap<>())).as(file).isEmpty();
      return t;
    }
  }

  /** Paths of additionalProperties anywhere in the model: fields fabric8 did not recognise. */
  private static List<String> unknownFields(Object o, String path, Map<Object, Boolean> seen) {
    List<String> out = new ArrayList<>();
    if (o == null || seen.put(o, true) != null) {
      return out;
    }
    if (o instanceof Collection<?> c) {
      for (Object x : c) {
        out.addAll(unknownFields(x, path + "[]", seen));
      }
      return out;
    }
    if (o instanceof Map<?, ?> m) {
      for (Map.Entry<?, ?> e : m.entrySet()) {
        out.addAll(unknownFields(e.getValue(), path + "." + e.getKey(), seen));
      }
      return out;
    }
    if (!o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
      return out;
    }
    for (Method m : o.getClass().getMethods()) {
      if (m.getParameterCount() != 0
          || !m.getName().startsWith("get")
          || m.getDeclaringClass() == Object.class) {
        continue;
      }
      try {
        Object v = m.invoke(o);
        if (m.getName().equals("getAdditionalProperties")) {
          if (v instanceof Map<?, ?> extra && !extra.isEmpty()) {
            out.add(path + " " + extra.keySet());
          }
        } else {
          out.addAll(unknownFields(v, path + "." + m.getName().substring(3), seen));
        }
      } catch (ReflectiveOperationException e) {
        throw new AssertionError(e);
      }
    }
    return out;
  }

  @Test
  void deploy_everyYamlFile_isTested() throws IOException {
    try (Stream<Path> s = Files.list(DEPLOY)) {
      assertThat(s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yaml")).sorted())
          .containsExactly(
              "clusterrole.yaml",
              "clusterrolebinding.yaml",
              "configmap.yaml",
              "daemonset.yaml",
              "serviceaccount.yaml");
    }
  }

  @Test
  void clusterRole_exactlyLeastPrivilege() throws IOException {
    ClusterRole role = load("clusterrole.yaml", ClusterRole.class);
    Set<String> granted = new TreeSet<>();
    for (PolicyRule r : role.getRules()) {
      assertThat(r.getResourceNames()).isEmpty();
      assertThat(r.getNonResourceURLs()).isEmpty();
      for (String g : r.getApiGroups()) {
        for (String res : r.getResources()) {
          for (String v : r.getVerbs()) {
            granted.add(g + "/" + res + ":" + v);
          }
        }
      }
    }
    // What the informers list and watch, and the Events the health-check servers record.
    assertThat(granted)
        .containsExactlyInAnyOrder(
            "/services:list",
            "/services:watch",
            "discovery.k8s.io/endpointslices:list",
            "discovery.k8s.io/endpointslices:watch",
            "/nodes:list",
            "/nodes:watch",
            "networking.k8s.io/servicecidrs:list",
            "networking.k8s.io/servicecidrs:watch",
            "/events:create",
            "/events:patch",
            "events.k8s.io/events:create",
            "events.k8s.io/events:patch");
  }

  @Test
  void binding_bindsTheRoleToTheDaemonSetsServiceAccount() throws IOException {
    ClusterRoleBinding b = load("clusterrolebinding.yaml", ClusterRoleBinding.class);
    ClusterRole role = load("clusterrole.yaml", ClusterRole.class);
    ServiceAccount sa = load("serviceaccount.yaml", ServiceAccount.class);
    PodSpec pod = load("daemonset.yaml", DaemonSet.class).getSpec().getTemplate().getSpec();
    assertThat(b.getRoleRef().getKind()).isEqualTo("ClusterRole");
    assertThat(b.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
    assertThat(b.getSubjects()).hasSize(1);
    assertThat(b.getSubjects().get(0).getKind()).isEqualTo("ServiceAccount");
    assertThat(b.getSubjects().get(0).getName()).isEqualTo(sa.getMetadata().getName());
    assertThat(b.getSubjects().get(0).getNamespace()).isEqualTo(sa.getMetadata().getNamespace());
    assertThat(pod.getServiceAccountName()).isEqualTo(sa.getMetadata().getName());
  }

  @Test
  void daemonSet_laidOutAsKubeProxys() throws IOException {
    DaemonSet ds = load("daemonset.yaml", DaemonSet.class);
    assertThat(ds.getMetadata().getNamespace()).isEqualTo("kube-system");
    assertThat(ds.getSpec().getUpdateStrategy().getType()).isEqualTo("RollingUpdate");
    assertThat(ds.getSpec().getSelector().getMatchLabels())
        .isEqualTo(ds.getSpec().getTemplate().getMetadata().getLabels());
    PodSpec pod = ds.getSpec().getTemplate().getSpec();
    assertThat(pod.getHostNetwork()).isTrue();
    assertThat(pod.getPriorityClassName()).isEqualTo("system-node-critical");
    // "- operator: Exists" without a key tolerates every taint, as kube-proxy's DaemonSet.
    assertThat(pod.getTolerations())
        .anySatisfy(
            (Toleration t) -> {
              assertThat(t.getKey()).isNull();
              assertThat(t.getOperator()).isEqualTo("Exists");
              assertThat(t.getEffect()).isNull();
            });
    Container c = pod.getContainers().get(0);
    boolean privileged = Boolean.TRUE.equals(c.getSecurityContext().getPrivileged());
    boolean caps =
        c.getSecurityContext().getCapabilities() != null
            && c.getSecurityContext()
                .getCapabilities()
                .getAdd()
                .containsAll(List.of("NET_ADMIN", "SYS_MODULE"));
    assertThat(privileged || caps).as("privileged, or NET_ADMIN and SYS_MODULE").isTrue();
    assertThat(hostPath(pod, c, "/run/xtables.lock")).isEqualTo("/run/xtables.lock FileOrCreate");
    assertThat(hostPath(pod, c, "/lib/modules")).startsWith("/lib/modules");
    assertThat(mount(c, "/lib/modules").getReadOnly()).isTrue();
    assertThat(hostPath(pod, c, "/run/svcproxy")).startsWith("/run/svcproxy");
    EnvVar nodeName =
        c.getEnv().stream().filter(e -> e.getName().equals("NODE_NAME")).findFirst().orElseThrow();
    assertThat(nodeName.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
  }

  @Test
  void daemonSet_livenessProbeHitsOurHealthzPortsLivez() throws IOException {
    Container c =
        load("daemonset.yaml", DaemonSet.class)
            .getSpec()
            .getTemplate()
            .getSpec()
            .getContainers()
            .get(0);
    var get = c.getLivenessProbe().getHttpGet();
    // upstream's /livez: healthy while syncing, whatever the Node's deletion state.
    assertThat(get.getPath()).isEqualTo("/livez");
    assertThat(get.getHost()).isNull();
    int probePort = get.getPort().getIntVal();
    // The port svcproxy run listens on with no flag given...
    AgentOptions defaults = CommandLine.populateCommand(new AgentOptions());
    assertThat(port(defaults.healthzBindAddress)).isEqualTo(probePort);
    // ...and with the ConfigMap's configuration.
    KubeProxyConfiguration cfg = KubeProxyConfiguration.parse(configConf());
    assertThat(port((String) cfg.get("healthzBindAddress"))).isEqualTo(probePort);
    assertThat(((String) cfg.get("healthzBindAddress"))).startsWith("0.0.0.0:");
  }

  @Test
  void daemonSet_commandIsARunCommandLineReadingTheConfigMap() throws IOException {
    DaemonSet ds = load("daemonset.yaml", DaemonSet.class);
    PodSpec pod = ds.getSpec().getTemplate().getSpec();
    Container c = pod.getContainers().get(0);
    List<String> argv = c.getCommand();
    assertThat(argv.subList(0, 2)).containsExactly("svcproxy", "run");
    // The kubelet expands $(NODE_NAME) from the container's env.
    List<String> args = new ArrayList<>();
    for (String a : argv.subList(1, argv.size())) {
      args.add(a.replace("$(NODE_NAME)", "worker-1"));
    }
    CommandLine cl = Main.commandLine(CommandLine.defaultFactory());
    CommandLine.ParseResult parsed = cl.parseArgs(args.toArray(String[]::new));
    RunCommand run = (RunCommand) parsed.subcommand().commandSpec().userObject();
    assertThat(run.options.nodeName).isEqualTo("worker-1");
    Path config = run.agent.config;
    assertThat(config).isNotNull();
    // --config names the ConfigMap's key inside the ConfigMap's volume.
    ConfigMap cm = load("configmap.yaml", ConfigMap.class);
    VolumeMount m = mount(c, config.getParent().toString());
    Volume v =
        pod.getVolumes().stream()
            .filter(x -> x.getName().equals(m.getName()))
            .findFirst()
            .orElseThrow();
    assertThat(v.getConfigMap().getName()).isEqualTo(cm.getMetadata().getName());
    assertThat(cm.getMetadata().getNamespace()).isEqualTo(ds.getMetadata().getNamespace());
    assertThat(cm.getData()).containsKey(config.getFileName().toString());
  }

  @Test
  void configMap_configurationAcceptedByOurReaderAndRun() throws IOException {
    KubeProxyConfiguration cfg = KubeProxyConfiguration.parse(configConf()).withFlags(Map.of());
    assertThat(cfg.warnings()).isEmpty();
    assertThat(cfg.get("mode")).isEqualTo("iptables");
    assertThat(cfg.get("iptables.syncPeriod")).isEqualTo(Duration.ofSeconds(30));
    // run resolves it with the DaemonSet's flags and validates it, touching nothing.
    Path file = dir.resolve("config.conf");
    Files.writeString(file, configConf());
    RefusingRunner refusing = new RefusingRunner();
    java.io.StringWriter err = new java.io.StringWriter();
    int code =
        Main.execute(
            Main.commandLine(refusing.factory()),
            new String[] {
              "run",
              "--config=" + file,
              "--hostname-override=worker-1",
              "--write-config-to=" + dir.resolve("out.yaml")
            },
            new java.io.PrintWriter(new java.io.StringWriter(), true),
            new java.io.PrintWriter(err, true));
    assertThat(code).as(err.toString()).isZero();
    assertThat(refusing.commands).isEmpty();
  }

  private static String configConf() throws IOException {
    return load("configmap.yaml", ConfigMap.class).getData().get("config.conf");
  }

  private static int port(String hostPort) {
    return Integer.parseInt(hostPort.substring(hostPort.lastIndexOf(':') + 1));
  }

  private static VolumeMount mount(Container c, String path) {
    return c.getVolumeMounts().stream()
        .filter(m -> m.getMountPath().equals(path))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no volume mounted at " + path));
  }

  private static String hostPath(PodSpec pod, Container c, String mountPath) {
    String name = mount(c, mountPath).getName();
    Volume v =
        pod.getVolumes().stream().filter(x -> x.getName().equals(name)).findFirst().orElseThrow();
    String type = v.getHostPath().getType();
    return v.getHostPath().getPath() + (type == null ? "" : " " + type);
  }
}
