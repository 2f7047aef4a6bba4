package dev.graft.shell;

import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import dev.graft.api.MethodRegistry.RegisteredMethod;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobStatus;
import dev.graft.api.train.TrainingService;
import dev.graft.shell.Completes.Kind;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.felix.service.command.CommandSession;
import org.apache.felix.service.command.Descriptor;
import org.apache.felix.service.command.Function;
import org.apache.felix.service.command.Parameter;
import org.jline.reader.Candidate;
import org.jline.reader.ParsedLine;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Tab completion of the graft commands in the interactive shell (Gogo JLine).
 *
 * <p>At login the shell's profile calls {@code graft:__complete}, which registers with Gogo's
 * {@code complete} command, for every command of scope {@code graft}, its description and its
 * options with theirs, read from the commands' {@link Descriptor} and {@link Parameter}
 * annotations, and one argument completer, {@code graft:__arguments}. Gogo calls that on Tab; it
 * offers what the argument under the cursor takes, by the {@link Completes} annotation of its
 * parameter: the methods, jobs and backends there are now, command names, job settings, folders or
 * files. (Names that start with {@code _} are left out of the shell's command list.)
 */
@Component(
    service = Completion.class,
    property = {
      "osgi.command.scope=" + GraftCommands.SCOPE,
      "osgi.command.function=__complete",
      "osgi.command.function=__arguments"
    })
public final class Completion {
  /** The job key whose value is a method name, or several separated by commas. */
  private static final String METHOD_KEY = "method";

  private static final String PREFIX = GraftCommands.SCOPE + ":";

  @Reference MethodRegistry methods;
  @Reference BackendRegistry backends;
  @Reference TrainingService training;

  private BundleContext context;

  @Activate
  void activate(BundleContext context) {
    this.context = context;
  }

  /** Registers the completions of every graft command with Gogo's {@code complete}. */
  public void __complete(CommandSession session) throws Exception {
    Function complete = (Function) session.get("gogo:complete");
    Map<String, List<Method>> commands = new LinkedHashMap<>();
    for (Method m : GraftCommands.commands(context)) {
      commands.computeIfAbsent(PREFIX + m.getName(), c -> new ArrayList<>()).add(m);
    }
    for (Map.Entry<String, List<Method>> command : commands.entrySet()) {
      String name = command.getKey();
      complete.execute(session, List.of("-c", name, "-e"));
      complete.execute(session, List.of("-c", name, "-d", summary(command.getValue().get(0))));
      for (List<Object> option : options(command.getValue())) {
        List<Object> arguments = new ArrayList<>(List.of("-c", name));
        arguments.addAll(option);
        complete.execute(session, arguments);
      }
      complete.execute(session, List.of("-c", name, "-a", PREFIX + "__arguments"));
    }
  }

  /**
   * The {@code complete} arguments of each option of a command's forms: {@code -l}/{@code -s} with
   * each of its names, {@code -d} with its description, and {@code -n} with the condition that it
   * is not on the line yet (the Gogo profile's {@code __option_not_present}).
   */
  static List<List<Object>> options(List<Method> forms) {
    Map<String, List<Object>> options = new LinkedHashMap<>();
    for (Method m : forms) {
      for (java.lang.reflect.Parameter p : m.getParameters()) {
        Parameter option = p.getAnnotation(Parameter.class);
        if (option == null || options.containsKey(option.names()[0])) {
          continue;
        }
        List<Object> arguments = new ArrayList<>();
        for (String n : option.names()) {
          arguments.add(n.startsWith("--") ? "-l" : "-s");
          arguments.add(n.substring(n.startsWith("--") ? 2 : 1));
        }
        Descriptor description = p.getAnnotation(Descriptor.class);
        if (description != null) {
          arguments.add("-d");
          arguments.add(description.value());
        }
        arguments.add("-n");
        arguments.add("__option_not_present " + String.join(" ", option.names()));
        options.put(option.names()[0], arguments);
      }
    }
    return List.copyOf(options.values());
  }

  /** The candidates for the word under the cursor of the line Gogo completes. */
  public List<Candidate> __arguments(CommandSession session) throws Exception {
    ParsedLine line = (ParsedLine) session.get(".commandLine");
    String command = line.words().get(0);
    String function = command.substring(command.indexOf(':') + 1);
    List<String> before = line.words().subList(1, line.wordIndex());
    Set<Kind> kinds = new LinkedHashSet<>();
    for (Method m : GraftCommands.commands(context)) {
      if (m.getName().equals(function)) {
        kindAt(m, before).ifPresent(kinds::add);
      }
    }
    List<Candidate> candidates = new ArrayList<>();
    for (Kind kind : kinds) {
      candidates.addAll(candidates(kind, line.word(), session));
    }
    return candidates;
  }

  /**
   * What the argument after {@code before} (the words after the command name) takes in this form of
   * a command: an option's value after an option that takes one, else the next positional parameter
   * (the last one again if it takes several); empty where the form takes none there.
   */
  static Optional<Kind> kindAt(Method m, List<String> before) {
    Map<String, java.lang.reflect.Parameter> options = new HashMap<>();
    List<java.lang.reflect.Parameter> positional = new ArrayList<>();
    for (java.lang.reflect.Parameter p : m.getParameters()) {
      Parameter option = p.getAnnotation(Parameter.class);
      if (option == null) {
        positional.add(p);
      } else {
        for (String n : option.names()) {
          options.put(n, p);
        }
      }
    }
    int index = 0;
    for (int i = 0; i < before.size(); i++) {
      java.lang.reflect.Parameter option = options.get(before.get(i));
      if (option == null) {
        index++;
      } else if (!Parameter.UNSPECIFIED.equals(
          option.getAnnotation(Parameter.class).presentValue())) {
        continue; // a flag
      } else if (i == before.size() - 1) {
        return kind(option);
      } else {
        i++; // the option's value
      }
    }
    if (index >= positional.size()) {
      if (!m.isVarArgs() || positional.isEmpty()) {
        return Optional.empty();
      }
      index = positional.size() - 1;
    }
    return kind(positional.get(index));
  }

  private static Optional<Kind> kind(java.lang.reflect.Parameter p) {
    return Optional.ofNullable(p.getAnnotation(Completes.class)).map(Completes::value);
  }

  private List<Candidate> candidates(Kind kind, String word, CommandSession session)
      throws Exception {
    List<Candidate> candidates = new ArrayList<>();
    switch (kind) {
      case METHOD -> {
        for (RegisteredMethod m : methods.methods()) {
          candidates.add(candidate(m.info().name(), m.info().title(), true));
        }
      }
      case JOB -> {
        for (Job j : training.jobs()) {
          JobStatus s = j.status();
          candidates.add(
              candidate(
                  j.id(),
                  s.state().name().toLowerCase(Locale.ROOT)
                      + ", step "
                      + s.step()
                      + "/"
                      + s.totalSteps(),
                  true));
        }
      }
      case BACKEND -> {
        for (ComputeBackend b : backends.backends()) {
          candidates.add(candidate(b.name(), b.device(), true));
        }
      }
      case COMMAND -> {
        String scope = word.contains(":") ? PREFIX : "";
        Map<String, String> names = new LinkedHashMap<>();
        for (Method m : GraftCommands.commands(context)) {
          names.putIfAbsent(scope + m.getName(), summary(m));
        }
        names.forEach((name, summary) -> candidates.add(candidate(name, summary, true)));
      }
      case SETTING ->
          candidates.addAll(
              settings(
                  word,
                  training.jobKeys(),
                  methods.methods().stream().map(RegisteredMethod::info).toList()));
      case DIRECTORY -> candidates.addAll(gogo(session, "gogo:__directories"));
      case FILE -> candidates.addAll(gogo(session, "gogo:__files"));
    }
    return candidates;
  }

  /**
   * Job settings: before the {@code =}, every job key and every method's options ({@code lora.r});
   * after it, the methods for {@value #METHOD_KEY} (also after a comma, for several) and the values
   * of a key with a choice of values.
   */
  static List<Candidate> settings(
      String word, List<OptionDescriptor> keys, List<MethodInfo> methods) {
    int eq = word.indexOf('=');
    List<Candidate> candidates = new ArrayList<>();
    if (eq < 0) {
      for (OptionDescriptor key : keys) {
        candidates.add(candidate(key.name() + "=", key.help(), false));
      }
      for (MethodInfo m : methods) {
        for (OptionDescriptor option : m.options()) {
          candidates.add(candidate(m.name() + "." + option.name() + "=", option.help(), false));
        }
      }
      return candidates;
    }
    String key = word.substring(0, eq);
    if (key.equals(METHOD_KEY)) {
      String chosen = word.substring(0, Math.max(eq, word.lastIndexOf(',')) + 1);
      for (MethodInfo m : methods) {
        candidates.add(candidate(chosen + m.name(), m.title(), true));
      }
      return candidates;
    }
    for (String value : values(key, keys, methods)) {
      candidates.add(candidate(key + "=" + value, null, true));
    }
    return candidates;
  }

  /**
   * The values a job key or a method's option ({@code lora.init_lora_weights}) may take, where they
   * are few: its choices, or true and false.
   */
  private static List<String> values(
      String key, List<OptionDescriptor> keys, List<MethodInfo> methods) {
    int dot = key.indexOf('.');
    String name = key.substring(dot + 1);
    List<OptionDescriptor> options =
        dot < 0
            ? keys
            : methods.stream()
                .filter(m -> m.name().equals(key.substring(0, dot)))
                .flatMap(m -> m.options().stream())
                .toList();
    for (OptionDescriptor o : options) {
      if (o.name().equals(name)) {
        return o.type() == OptionType.BOOLEAN ? List.of("true", "false") : o.choices();
      }
    }
    return List.of();
  }

  /** What one of Gogo's own completers ({@code __files}, {@code __directories}) offers. */
  @SuppressWarnings("unchecked")
  private static List<Candidate> gogo(CommandSession session, String completer) throws Exception {
    return (List<Candidate>) ((Function) session.get(completer)).execute(session, List.of());
  }

  /** The first line of a command's description. */
  private static String summary(Method m) {
    return m.getAnnotation(Descriptor.class).value().lines().findFirst().orElse("");
  }

  private static Candidate candidate(String value, String description, boolean complete) {
    return new Candidate(value, value, null, description, null, null, complete);
  }
}
