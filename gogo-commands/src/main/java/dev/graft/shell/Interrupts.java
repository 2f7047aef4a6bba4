package dev.graft.shell;

import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.felix.service.command.Process;
import org.jline.terminal.Terminal;
import org.jline.terminal.Terminal.Signal;
import org.jline.terminal.Terminal.SignalHandler;

/**
 * Turns Ctrl-C into an interrupt of the threads that asked for it (a command following a job: Gogo
 * runs a command on a thread of its own), so that the command ends cleanly (a training job stops
 * after its current step with a checkpoint).
 *
 * <p>Headless ({@link #install}), SIGINT interrupts them, or else a fallback action, instead of the
 * JVM's default of exiting at once; a second SIGINT exits at once with status 130. It uses {@code
 * sun.misc.Signal} (module {@code jdk.unsupported}) by reflection, so that the bundle imports
 * nothing the framework may not export; where it is missing, the JVM's default stays.
 *
 * <p>In Gogo JLine's interactive shell, JLine receives SIGINT and raises it on the session's
 * terminal, where the shell's own handler aborts the running command at once, without waiting for
 * it to end. While a {@link #target} is open, the terminal's first Ctrl-C interrupts that thread
 * instead; the next goes to the shell's handler again.
 */
final class Interrupts {
  private static final Set<Thread> TARGETS = ConcurrentHashMap.newKeySet();

  private Interrupts() {}

  /**
   * Makes Ctrl-C interrupt the calling thread until the returned handle is closed: SIGINT where
   * {@link #install} put its handler in place, and the first Ctrl-C on the terminal of the Gogo
   * JLine session that runs the calling command.
   */
  static Target target() {
    Thread thread = Thread.currentThread();
    TARGETS.add(thread);
    Runnable restore = onTerminalInterrupt(thread::interrupt);
    return () -> {
      TARGETS.remove(thread);
      restore.run();
    };
  }

  /**
   * Routes the next Ctrl-C on the JLine terminal of the calling command's Gogo session (none
   * outside Gogo JLine's shell) to {@code action}, and the ones after it back to the handler
   * before; returns what puts that handler back.
   */
  private static Runnable onTerminalInterrupt(Runnable action) {
    Process process = Process.Utils.current();
    if (process == null || !(process.job().session().get(".terminal") instanceof Terminal t)) {
      return () -> {};
    }
    SignalHandler[] previous = new SignalHandler[1];
    synchronized (previous) {
      previous[0] =
          t.handle(
              Signal.INT,
              signal -> {
                synchronized (previous) {
                  t.handle(Signal.INT, previous[0]);
                }
                action.run();
              });
    }
    return () -> {
      synchronized (previous) {
        t.handle(Signal.INT, previous[0]);
      }
    };
  }

  /** A thread's registration as a target of SIGINT. */
  interface Target extends AutoCloseable {
    @Override
    void close();
  }

  /** Routes SIGINT to the targets, else to {@code fallback}; returns whether it is in place. */
  static boolean install(Runnable fallback) {
    try {
      ClassLoader loader = ClassLoader.getSystemClassLoader();
      Class<?> signal = loader.loadClass("sun.misc.Signal");
      Class<?> handler = loader.loadClass("sun.misc.SignalHandler");
      boolean[] seen = {false};
      Object proxy =
          Proxy.newProxyInstance(
              loader,
              new Class<?>[] {handler},
              (self, method, args) -> {
                switch (method.getName()) {
                  case "handle" -> {
                    if (seen[0]) {
                      Runtime.getRuntime().halt(HeadlessRunner.INTERRUPTED);
                    }
                    seen[0] = true;
                    if (TARGETS.isEmpty()) {
                      fallback.run();
                    }
                    TARGETS.forEach(Thread::interrupt);
                    return null;
                  }
                  case "hashCode" -> {
                    return System.identityHashCode(self);
                  }
                  case "equals" -> {
                    return self == args[0];
                  }
                  default -> {
                    return "graft SIGINT handler";
                  }
                }
              });
      Method handle = signal.getMethod("handle", signal, handler);
      handle.invoke(null, signal.getConstructor(String.class).newInstance("INT"), proxy);
      return true;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return false;
    }
  }
}
