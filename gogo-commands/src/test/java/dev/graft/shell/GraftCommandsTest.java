package dev.graft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.felix.service.command.Descriptor;
import org.apache.felix.service.command.Parameter;
import org.junit.jupiter.api.Test;

/** graft:help over the commands of several services, as it finds them in the framework. */
class GraftCommandsTest {
  /** Another bundle's command service. */
  public static final class Greeter {
    @Descriptor("greet someone")
    public String hello(
        @Descriptor("shout it")
            @Parameter(names = "--loud", presentValue = "true", absentValue = "false")
            boolean loud,
        @Descriptor("how many times") @Parameter(names = "--times", absentValue = "1") int times,
        @Descriptor("whom to greet") String name) {
      return "hello " + name;
    }

    @Descriptor("not a function this service lists")
    public String unlisted() {
      return "";
    }

    public String hello(String name, String undescribed) {
      return name + undescribed;
    }
  }

  private static List<Method> commands() {
    Map<Class<?>, List<String>> services = new LinkedHashMap<>();
    services.put(GraftCommands.class, List.of("help", "methods", "train"));
    services.put(Greeter.class, List.of("hello"));
    return GraftCommands.commands(services);
  }

  @Test
  void theListHoldsTheDescribedFunctionsOfEveryServiceInNameOrder() {
    List<String> usages = commands().stream().map(m -> GraftCommands.usage(m, true)).toList();
    assertEquals(
        List.of(
            "graft:hello [--loud] [--times <times>] <name>",
            "graft:help",
            "graft:help <command>",
            "graft:methods",
            "graft:train [--detach] <jobFile> [<overrides>...]"),
        usages);
    String help = GraftCommands.overview(commands());
    assertTrue(help.contains("greet someone"), help);
    assertFalse(help.contains("unlisted"), help);
  }

  @Test
  void oneCommandIsShownWithItsOptionsAndTheirDefaults() {
    assertEquals(
        "graft:hello [--loud] [--times <times>] <name>\n"
            + "  greet someone\n"
            + "  [--loud]  shout it\n"
            + "  [--times <times>]  how many times (default: 1)\n"
            + "  <name>  whom to greet\n",
        GraftCommands.describe(commands(), "graft:hello"));
    assertEquals(
        GraftCommands.describe(commands(), "graft:hello"),
        GraftCommands.describe(commands(), "hello"));
  }

  @Test
  void everyGraftCommandShowsAnExampleInItsHelpButNotInTheList() {
    List<Method> own = GraftCommands.commands(Map.of(GraftCommands.class, List.of()));
    for (Method m : own) {
      String help = GraftCommands.describe(List.of(m), m.getName());
      assertTrue(help.contains("\n  Example: graft:" + m.getName()), help);
    }
    assertFalse(GraftCommands.overview(own).contains("Example:"));
  }

  @Test
  void anUnknownCommandIsNamedWithTheNearestKnownOne() {
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> GraftCommands.describe(commands(), "helo"));
    assertTrue(e.getMessage().contains("graft:hel"), e.getMessage());
  }

  @Test
  void withoutAFrameworkItListsItsOwnCommands() {
    List<String> names =
        GraftCommands.commands(Map.of(GraftCommands.class, List.of())).stream()
            .map(Method::getName)
            .distinct()
            .toList();
    assertEquals(
        List.of(
            "backends",
            "cancel",
            "eval",
            "export",
            "generate",
            "help",
            "inspect",
            "job",
            "jobs",
            "merge",
            "method",
            "methods",
            "quantize",
            "resume",
            "train"),
        names);
  }

  @Test
  void theFunctionPropertyMayBeAStringAnArrayOrACollection() {
    assertEquals(List.of("a"), GraftCommands.functions("a"));
    assertEquals(List.of("a", "b"), GraftCommands.functions(new String[] {"a", "b"}));
    assertEquals(List.of("a", "b"), GraftCommands.functions(List.of("a", "b")));
    assertEquals(List.of(), GraftCommands.functions(null));
  }
}
