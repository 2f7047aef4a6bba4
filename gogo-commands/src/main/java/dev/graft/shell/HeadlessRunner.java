package dev.graft.shell;

import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.apache.felix.service.command.Converter;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Runs one Gogo command and exits the JVM: the engine behind {@code ./graft <command> [args…]}.
 *
 * <p>Active only when the framework property {@value #COMMAND} is set (the launcher script sets
 * it); in an embedding host it does nothing. Arguments come as {@code graft.arg.1 … graft.arg.N}
 * and reach the command as session variables, so spaces and quotes in them survive unchanged. The
 * result goes to stdout; an error goes to stderr as one line, and the exit status is 1 (130 for a
 * command stopped by Ctrl-C: SIGINT interrupts the command, which for {@code graft:train} stops the
 * job after its current step with a checkpoint).
 */
@Component(immediate = true)
public final class HeadlessRunner {
  /** Framework property: the command to run, e.g. {@code graft:methods}. */
  public static final String COMMAND = "graft.command";

  private static final long STARTUP_WAIT_MS = 30_000;

  /** The exit status of a command stopped by Ctrl-C, as shells report SIGINT (128 + 2). */
  static final int INTERRUPTED = 130;

  @Reference CommandProcessor processor;

  @Activate
  void activate(BundleContext context) {
    String command = context.getProperty(COMMAND);
    if (command == null || command.isBlank()) {
      return;
    }
    Thread runner = new Thread(() -> System.exit(run(context, command.trim())), "graft-headless");
    Interrupts.install(runner::interrupt);
    runner.start();
  }

  private int run(BundleContext context, String command) {
    // The process's own streams: Gogo replaces System.out/err with proxies that write to the
    // current session, so a session built on those proxies would write into itself.
    PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true);
    PrintStream err = new PrintStream(new FileOutputStream(FileDescriptor.err), true);
    try {
      awaitStartup(context);
      if (!exists(context, command)) {
        err.println(unknownCommand(context, command));
        return 2;
      }
      try (CommandSession session = processor.createSession(System.in, out, err)) {
        StringBuilder line = new StringBuilder(command);
        int count =
            Integer.parseInt(
                context.getProperty("graft.args") == null
                    ? "0"
                    : context.getProperty("graft.args"));
        for (int i = 1; i <= count; i++) {
          session.put("graft_arg" + i, context.getProperty("graft.arg." + i));
          line.append(" $graft_arg").append(i);
        }
        Object result = session.execute(line);
        if (result != null) {
          CharSequence text =
              result instanceof CharSequence cs ? cs : session.format(result, Converter.INSPECT);
          out.print(text);
          if (text.length() > 0 && text.charAt(text.length() - 1) != '\n') {
            out.println();
          }
        }
        out.flush();
        return 0;
      }
    } catch (Exception e) {
      err.println(oneLine(command, e));
      return interrupted(e) ? INTERRUPTED : 1;
    }
  }

  /** Whether a command ended on Ctrl-C. */
  private static boolean interrupted(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof Interrupted || t instanceof InterruptedException) {
        return true;
      }
    }
    return false;
  }

  /** The error as the one sentence a user should see. */
  static String oneLine(String command, Throwable e) {
    Throwable cause = e;
    while (cause.getCause() != null
        && !(cause instanceof Interrupted)
        && (cause.getMessage() == null
            || cause instanceof java.lang.reflect.InvocationTargetException)) {
      cause = cause.getCause();
    }
    String message = cause.getMessage() == null ? "" : cause.getMessage();
    if (message.startsWith("Cannot coerce")) {
      return "Wrong arguments for " + command + ". See 'graft:help " + command + "'.";
    }
    if (cause instanceof IllegalArgumentException
        || cause instanceof IllegalStateException
        || cause instanceof Interrupted) {
      return message;
    }
    return command
        + " failed: "
        + cause.getClass().getSimpleName()
        + (message.isEmpty() ? "" : ": " + message);
  }

  /**
   * Waits until every bundle has finished starting and FileInstall has picked up each jar in its
   * folder, so that a command sees what a user would see in the interactive shell.
   */
  private static void awaitStartup(BundleContext context) throws InterruptedException {
    long deadline = System.currentTimeMillis() + STARTUP_WAIT_MS;
    while (System.currentTimeMillis() < deadline && !settled(context)) {
      Thread.sleep(50);
    }
  }

  private static boolean settled(BundleContext context) {
    Bundle[] bundles = context.getBundles();
    if (context.getBundle(Constants.SYSTEM_BUNDLE_ID).getState() != Bundle.ACTIVE
        || Arrays.stream(bundles).anyMatch(b -> b.getState() == Bundle.STARTING && !lazy(b))) {
      return false;
    }
    String dir = context.getProperty("felix.fileinstall.dir");
    File[] jars = dir == null ? null : new File(dir).listFiles((d, n) -> n.endsWith(".jar"));
    if (jars == null) {
      return true;
    }
    for (File jar : jars) {
      boolean installed =
          Arrays.stream(bundles)
              .anyMatch(
                  b ->
                      b.getLocation().endsWith("/" + jar.getName())
                          && b.getState() == Bundle.ACTIVE);
      if (!installed) {
        return false;
      }
    }
    return true;
  }

  private static boolean lazy(Bundle b) {
    return Constants.ACTIVATION_LAZY.equals(b.getHeaders().get(Constants.BUNDLE_ACTIVATIONPOLICY));
  }

  private static boolean exists(BundleContext context, String command) {
    String[] parts = command.split("\\s+", 2)[0].split(":", 2);
    String filter =
        parts.length == 2
            ? "(&(osgi.command.scope=" + parts[0] + ")(osgi.command.function=" + parts[1] + "))"
            : "(osgi.command.function=" + parts[0] + ")";
    try {
      ServiceReference<?>[] refs = context.getAllServiceReferences(null, filter);
      return refs != null && refs.length > 0;
    } catch (InvalidSyntaxException e) {
      return false;
    }
  }

  private static String unknownCommand(BundleContext context, String command) {
    List<String> known = new ArrayList<>();
    try {
      ServiceReference<?>[] refs =
          context.getAllServiceReferences(null, "(osgi.command.scope=graft)");
      for (ServiceReference<?> ref : refs == null ? new ServiceReference<?>[0] : refs) {
        Object functions = ref.getProperty("osgi.command.function");
        for (String f :
            functions instanceof String[] a ? a : new String[] {String.valueOf(functions)}) {
          if (!f.startsWith("_")) { // the shell's helpers, such as graft:__arguments
            known.add("graft:" + f);
          }
        }
      }
    } catch (InvalidSyntaxException e) {
      throw new IllegalStateException(e);
    }
    return dev.graft.api.Suggestions.unknown(
        "command", command, new TreeSet<>(known), "Graft commands", "See 'graft:help'.");
  }
}
