package dev.graft.shell;

import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import dev.graft.api.MethodRegistry.RegisteredMethod;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.Suggestions;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import java.lang.reflect.Method;
import java.lang.reflect.Parameter;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** The {@code graft} Gogo scope: thin commands over the platform registries. */
@Component(
    service = GraftCommands.class,
    property = {
      "osgi.command.scope=graft",
      "osgi.command.function=methods",
      "osgi.command.function=method",
      "osgi.command.function=backends",
      "osgi.command.function=help"
    })
public final class GraftCommands {
  @Reference MethodRegistry methods;
  @Reference BackendRegistry backends;

  @Descriptor("list the installed fine-tuning methods: name, family, bundle, version, state")
  public String methods() {
    Table table = new Table("NAME", "FAMILY", "BUNDLE", "VERSION", "STATE");
    for (RegisteredMethod m : methods.methods()) {
      table.row(m.info().name(), m.info().family().label(), m.bundle(), m.version(), m.state());
    }
    StringBuilder out =
        new StringBuilder(
            table.isEmpty()
                ? "No fine-tuning methods are installed. Copy a method bundle into deploy/ to add one.\n"
                : table.render());
    List<MethodRegistry.Rejection> rejected = methods.rejected();
    if (!rejected.isEmpty()) {
      out.append("\nNot in service:\n");
      for (MethodRegistry.Rejection r : rejected) {
        out.append("  ")
            .append(r.name().isEmpty() ? "(unnamed)" : r.name())
            .append(" from ")
            .append(r.bundle())
            .append(": ")
            .append(r.reason())
            .append('\n');
      }
    }
    return out.toString();
  }

  @Descriptor("show one method: family, paper, bundle and its options with type, default and help")
  public String method(@Descriptor("the method's name, as listed by graft:methods") String name) {
    RegisteredMethod m = methods.require(name);
    MethodInfo info = m.info();
    StringBuilder out = new StringBuilder();
    out.append(info.name())
        .append(" - ")
        .append(info.title())
        .append(" (")
        .append(info.family().label())
        .append(")\n");
    info.paperReference().ifPresent(p -> out.append("Paper:  ").append(p).append('\n'));
    out.append("Bundle: ")
        .append(m.bundle())
        .append(' ')
        .append(m.version())
        .append(" (")
        .append(m.state())
        .append(")\n\n");
    if (info.options().isEmpty()) {
      return out.append("It has no options.\n").toString();
    }
    Table table = new Table("OPTION", "TYPE", "DEFAULT", "HELP");
    for (OptionDescriptor o : info.options()) {
      String type = o.choices().isEmpty() ? o.type().label() : String.join("|", o.choices());
      table.row(o.name(), type, o.defaultValue().isEmpty() ? "-" : o.defaultValue(), o.help());
    }
    return out.append(table.render()).toString();
  }

  @Descriptor(
      "list the compute backends: name, device, and whether each is available (and if not, why)")
  public String backends() {
    Table table = new Table("NAME", "DEVICE", "STATUS");
    for (ComputeBackend b : backends.backends()) {
      var a = b.availability();
      table.row(b.name(), b.device(), a.available() ? "available" : "unavailable: " + a.reason());
    }
    return table.isEmpty() ? "No compute backends are installed.\n" : table.render();
  }

  @Descriptor("list the graft commands")
  public String help() {
    Table table = new Table("COMMAND", "DESCRIPTION");
    for (Method m : commands()) {
      table.row(usage(m), m.getAnnotation(Descriptor.class).value());
    }
    return table.render()
        + "\nRun one with './graft <command> [arguments]', or type it in the shell that './graft' opens.\n";
  }

  @Descriptor("describe one graft command and its arguments")
  public String help(@Descriptor("a command name, such as graft:method or method") String command) {
    String function = command.startsWith("graft:") ? command.substring("graft:".length()) : command;
    List<Method> matches = commands().stream().filter(m -> m.getName().equals(function)).toList();
    if (matches.isEmpty()) {
      throw new IllegalArgumentException(
          Suggestions.unknown(
              "command",
              command,
              commands().stream().map(m -> "graft:" + m.getName()).distinct().toList(),
              "Known",
              "See 'graft:help'."));
    }
    StringBuilder out = new StringBuilder();
    for (Method m : matches) {
      out.append(usage(m))
          .append("\n  ")
          .append(m.getAnnotation(Descriptor.class).value())
          .append('\n');
      for (Parameter p : m.getParameters()) {
        out.append("  <")
            .append(p.getName())
            .append(">  ")
            .append(p.getAnnotation(Descriptor.class).value())
            .append('\n');
      }
    }
    return out.toString();
  }

  /** Every public command function of this class, in name order, shortest form first. */
  static List<Method> commands() {
    return Arrays.stream(GraftCommands.class.getDeclaredMethods())
        .filter(
            m ->
                java.lang.reflect.Modifier.isPublic(m.getModifiers())
                    && m.isAnnotationPresent(Descriptor.class))
        .sorted(Comparator.comparing(Method::getName).thenComparingInt(Method::getParameterCount))
        .toList();
  }

  static String usage(Method m) {
    StringBuilder usage = new StringBuilder("graft:").append(m.getName());
    for (Parameter p : m.getParameters()) {
      usage.append(" <").append(p.getName()).append('>');
    }
    return usage.toString();
  }
}
