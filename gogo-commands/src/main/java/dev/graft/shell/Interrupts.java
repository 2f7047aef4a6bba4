package dev.graft.shell;

import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Turns SIGINT (Ctrl-C) into an interrupt of the threads that asked for it (a command following a
 * job: Gogo runs a command on a thread of its own), or else of a fallback action, instead of the
 * JVM's default of exiting at once: the command then ends cleanly (a training job stops after its
 * current step with a checkpoint). A second SIGINT exits at once with status 130.
 *
 * <p>Uses {@code sun.misc.Signal} (module {@code jdk.unsupported}) by reflection, so that the
 * bundle imports nothing the framework may not export; where it is missing, the JVM's default
 * stays.
 */
final class Interrupts {
  private static final Set<Thread> TARGETS = ConcurrentHashMap.newKeySet();

  private Interrupts() {}

  /**
   * Makes SIGINT interrupt the calling thread until the returned handle is closed. Does nothing
   * where no handler is installed (the interactive shell, where Gogo interrupts the command).
   */
  static Target target() {
    Thread thread = Thread.currentThread();
    TARGETS.add(thread);
    return () -> TARGETS.remove(thread);
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
