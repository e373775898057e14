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
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:ok (trace: every outcome delivered)",
      "1:trace: a packet is dropped or rejected; doctor: findings",
      "2:bad input or usage (flags, files, another run in this network namespace)",
      "3:internal error (--debug prints the stack trace)"
    },
    subcommands = {
      RenderCommand.class,
      RunCommand.class,
      CleanupCommand.class,
      CaptureCommand.class,
      TraceCommand.class,
      DoctorCommand.class,
      BenchCommand.class,
      LabCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {
  /** Printed as is: building a message may itself fail when the heap is exhausted. */
  static final String OUT_OF_MEMORY =
      "svcproxy: out of memory (give Java more heap, e.g. JAVA_TOOL_OPTIONS=-Xmx2g)";

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
    PrintWriter err = new PrintWriter(System.err, true);
    boolean debug = Arrays.asList(args).contains("--debug");
    // Threads other than main (the sync loop, the manifest watcher) end here when they throw.
    Thread.setDefaultUncaughtExceptionHandler(
        (t, e) -> {
          if (e instanceof OutOfMemoryError) {
            err.println(OUT_OF_MEMORY);
            Runtime.getRuntime().halt(ExitCodes.INTERNAL);
          }
          report(e, debug, err);
        });
    int code = execute(args, new PrintWriter(System.out, true), err);
    System.exit(code);
  }

  /** Runs the command line; returns the exit code (see {@link ExitCodes}). */
  public static int execute(String[] args, PrintWriter out, PrintWriter err) {
    return execute(commandLine(CommandLine.defaultFactory()), args, out, err);
  }

  /** The command tree, its commands made by {@code factory} (tests hand fakes to run). */
  static CommandLine commandLine(CommandLine.IFactory factory) {
    return new CommandLine(new Main(), factory);
  }

  /** Runs {@code cl}; every Throwable becomes one line on {@code err} and an exit code. */
  static int execute(CommandLine cl, String[] args, PrintWriter out, PrintWriter err) {
    boolean debug = Arrays.asList(args).contains("--debug");
    ((ch.qos.logback.classic.Logger)
            org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME))
        .setLevel(debug ? Level.DEBUG : Level.INFO);
    cl.setOut(out);
    cl.setErr(err);
    cl.setParameterExceptionHandler(
        (ex, a) -> {
          if (debug) {
            ex.printStackTrace(err);
          }
          err.println("svcproxy: " + oneLine(ex.getMessage(), "invalid command line"));
          return ExitCodes.USAGE;
        });
    cl.setExecutionExceptionHandler((ex, c, parseResult) -> report(ex, debug, err));
    try {
      return cl.execute(args);
    } catch (OutOfMemoryError e) {
      err.println(OUT_OF_MEMORY);
      return ExitCodes.INTERNAL;
    } catch (Throwable e) {
      // Errors (StackOverflowError, ...) pass picocli's handlers, which take only Exceptions.
      return report(e, debug, err);
    } finally {
      err.flush();
      out.flush();
    }
  }

  /** Prints {@code e} as one line (after its stack trace with --debug); returns the exit code. */
  static int report(Throwable e, boolean debug, PrintWriter err) {
    if (e instanceof OutOfMemoryError) {
      err.println(OUT_OF_MEMORY);
      return ExitCodes.INTERNAL;
    }
    if (debug) {
      e.printStackTrace(err);
    }
    int code;
    String line;
    if (e instanceof CliException c) {
      code = c.exitCode();
      line = oneLine(c.getMessage(), "failed");
    } else if (e instanceof IllegalArgumentException) {
      code = ExitCodes.USAGE;
      line = oneLine(e.getMessage(), "invalid input");
    } else {
      code = ExitCodes.INTERNAL;
      String what =
          e instanceof StackOverflowError
              ? "stack overflow"
              : oneLine(e.getMessage(), "unexpected " + e.getClass().getSimpleName());
      line = "internal error: " + what + (debug ? "" : " (--debug prints the stack trace)");
    }
    err.println("svcproxy: " + line);
    err.flush();
    return code;
  }

  /** The message on one line: a multi-line or control-character message cannot break the log. */
  static String oneLine(String message, String fallback) {
    if (message == null || message.isBlank()) {
      return fallback;
    }
    String s = message.strip().replaceAll("\\s*\\R\\s*", "; ").replaceAll("\\p{Cntrl}", "?");
    return s.length() > 500 ? s.substring(0, 500) + "..." : s;
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
