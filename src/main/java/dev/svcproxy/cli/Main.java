package dev.svcproxy.cli;

import ch.qos.logback.classic.Level;
import java.io.PrintWriter;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The svcproxy command line. */
@Command(
    name = "svcproxy",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "A Kubernetes Service proxy for Linux nodes that can explain what a node does.",
    subcommands = {
      RenderCommand.class,
      RunCommand.class,
      CleanupCommand.class,
      CaptureCommand.class,
      TraceCommand.class,
      BenchCommand.class,
      LabCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {
  @Option(
      names = "--debug",
      scope = CommandLine.ScopeType.INHERIT,
      description = "Log debug detail and stack traces.")
  boolean debug;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        new CommandLine(this), "a subcommand is required (see svcproxy --help)");
  }

  public static void main(String[] args) {
    System.exit(
        execute(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
  }

  /** Runs the command line; returns the exit code. 2 means a usage or input error. */
  public static int execute(String[] args, PrintWriter out, PrintWriter err) {
    boolean debug = Arrays.asList(args).contains("--debug");
    ((ch.qos.logback.classic.Logger)
            org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME))
        .setLevel(debug ? Level.DEBUG : Level.INFO);
    CommandLine cl = new CommandLine(new Main());
    cl.setOut(out);
    cl.setErr(err);
    cl.setParameterExceptionHandler(
        (ex, a) -> {
          err.println("svcproxy: " + ex.getMessage());
          return 2;
        });
    cl.setExecutionExceptionHandler(
        (ex, c, parseResult) -> {
          if (debug) {
            ex.printStackTrace(err);
          }
          if (ex instanceof IllegalArgumentException) {
            err.println("svcproxy: " + ex.getMessage());
            return 2;
          }
          err.println("svcproxy: " + ex.getClass().getSimpleName() + ": " + ex.getMessage());
          return 1;
        });
    return cl.execute(args);
  }

  /** Reads the version from the jar manifest. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {"svcproxy " + (v == null ? "0.1.0" : v)};
    }
  }
}
