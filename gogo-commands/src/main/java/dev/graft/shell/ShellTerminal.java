package dev.graft.shell;

import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleEvent;
import org.osgi.framework.SynchronousBundleListener;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;

/**
 * Lets Gogo JLine open a real terminal. JLine 3.26 finds its terminal providers (JNI, exec) through
 * the context class loader of the thread that builds the terminal; in a framework that is the
 * launcher's class loader, which does not see the jline bundle, so the shell fell back to a dumb
 * terminal that completes nothing and leaves Ctrl-C to the JVM, which exits. While the shell bundle
 * starts (its activator builds the terminal), the starting thread's context class loader is the one
 * that loaded JLine; the shell's thread, which the activator starts, keeps it.
 */
@Component(immediate = true)
public final class ShellTerminal implements SynchronousBundleListener {
  /** The bundle that builds the terminal when it starts. */
  private static final String SHELL = "org.apache.felix.gogo.jline";

  /** What puts back the starting thread's own context class loader. */
  private final ThreadLocal<Runnable> restore = new ThreadLocal<>();

  @Activate
  void activate(BundleContext context) {
    context.addBundleListener(this);
  }

  @Deactivate
  void deactivate(BundleContext context) {
    context.removeBundleListener(this);
  }

  @Override
  public void bundleChanged(BundleEvent event) {
    if (!SHELL.equals(event.getBundle().getSymbolicName())) {
      return;
    }
    Thread thread = Thread.currentThread();
    if (event.getType() == BundleEvent.STARTING) {
      try {
        ClassLoader jline =
            event.getBundle().loadClass("org.jline.terminal.TerminalBuilder").getClassLoader();
        ClassLoader own = thread.getContextClassLoader();
        restore.set(() -> thread.setContextClassLoader(own));
        thread.setContextClassLoader(jline);
      } catch (ClassNotFoundException e) {
        // Not wired to JLine: the shell fails to start on its own, with its own message.
      }
    } else if (event.getType() == BundleEvent.STARTED || event.getType() == BundleEvent.STOPPED) {
      Runnable back = restore.get(); // STOPPED: its activator failed
      if (back != null) {
        restore.remove();
        back.run();
      }
    }
  }
}
