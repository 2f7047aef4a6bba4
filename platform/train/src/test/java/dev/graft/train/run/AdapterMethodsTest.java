package dev.graft.train.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.train.registry.FixedMethodRegistry;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AdapterMethodsTest {
  private static final Path FILE = Path.of("adapter/adapter_config.json");

  /** A method whose instances are its options, so that tests can read them back. */
  private record Configured(Options options) implements MethodInstance {
    @Override
    public void adapt(Adaptation adaptation) {}

    @Override
    public Map<String, Object> adapterConfig() {
      return Map.of();
    }
  }

  private static FineTuningMethod method(String name, OptionDescriptor... options) {
    MethodInfo info = new MethodInfo(name, name, MethodFamily.LOW_RANK, null, List.of(options));
    return new FineTuningMethod() {
      @Override
      public MethodInfo info() {
        return info;
      }

      @Override
      public MethodInstance create(Options o) {
        return new Configured(o);
      }
    };
  }

  private static final MethodRegistry REGISTRY =
      new FixedMethodRegistry(
          List.of(
              method(
                  "lora",
                  OptionDescriptor.of("r", OptionType.INT, "8", "rank"),
                  OptionDescriptor.of("target_modules", OptionType.LIST, "", "targets"),
                  OptionDescriptor.of("rank_pattern", OptionType.MAP, "", "ranks"),
                  OptionDescriptor.of("lora_alpha", OptionType.FLOAT, "8", "alpha")),
              method("format", OptionDescriptor.of("template", OptionType.STRING, "auto", "t"))));

  private static JsonNode json(String text) throws Exception {
    return AdapterFiles.json().readTree(text);
  }

  private static Map<String, Object> options(AdapterMethods.Resolved r) {
    return ((Configured) r.instance()).options().asMap();
  }

  @Test
  void graftMethodsConfigureEveryListedMethodInOrder() throws Exception {
    List<AdapterMethods.Resolved> methods =
        AdapterMethods.resolve(
            FILE,
            json(
                """
                {"peft_type": "LORA", "r": 99,
                 "graft_methods": [
                   {"name": "lora", "version": "1.0.0", "options": {"r": 4}},
                   {"name": "format", "version": "1.0.0", "options": {"template": "alpaca"}}]}
                """),
            REGISTRY);
    assertEquals(List.of("lora", "format"), methods.stream().map(m -> m.name()).toList());
    assertEquals(4, options(methods.get(0)).get("r"), "graft_methods wins over PEFT's fields");
    assertEquals("alpaca", options(methods.get(1)).get("template"));
  }

  @Test
  void anEntryReadsBackAsTheOptionsItWasWrittenFrom() throws Exception {
    Options given =
        Options.parse(
            REGISTRY.require("lora").info(),
            Map.of(
                "r", "16",
                "target_modules", "q_proj,v_proj",
                "rank_pattern", "q_proj=4",
                "lora_alpha", "32"));
    Map<String, Object> entry = AdapterMethods.entry(REGISTRY.require("lora"), given);
    JsonNode config = AdapterFiles.json().valueToTree(Map.of("graft_methods", List.of(entry)));
    AdapterMethods.Resolved back = AdapterMethods.resolve(FILE, config, REGISTRY).get(0);
    assertEquals(given.asMap(), options(back));
  }

  @Test
  void aPeftLoraAdapterIsConfiguredFromItsFields() throws Exception {
    AdapterMethods.Resolved lora =
        AdapterMethods.resolve(
                FILE,
                json("{\"peft_type\": \"LORA\", \"r\": 16, \"target_modules\": [\"q_proj\"]}"),
                REGISTRY)
            .get(0);
    assertEquals("lora", lora.name());
    assertEquals(16, options(lora).get("r"));
    assertEquals(List.of("q_proj"), options(lora).get("target_modules"));
  }

  @Test
  void peftFlagsPickTheLoraVariant() throws Exception {
    assertEquals(
        "dora", AdapterMethods.peftMethod(json("{\"peft_type\":\"LORA\",\"use_dora\":true}")));
    assertEquals(
        "pissa",
        AdapterMethods.peftMethod(
            json("{\"peft_type\":\"LORA\",\"init_lora_weights\":\"pissa_niter_4\"}")));
    assertEquals(
        "lora",
        AdapterMethods.peftMethod(json("{\"peft_type\":\"LORA\",\"init_lora_weights\":true}")));
    assertEquals("adalora", AdapterMethods.peftMethod(json("{\"peft_type\":\"ADALORA\"}")));
    assertEquals(
        "prefix-tuning", AdapterMethods.peftMethod(json("{\"peft_type\":\"PREFIX_TUNING\"}")));
  }

  @Test
  void aPeftDoraAdapterWithoutTheDoraMethodNamesIt() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                AdapterMethods.resolve(
                    FILE, json("{\"peft_type\": \"LORA\", \"use_dora\": true}"), REGISTRY));
    assertEquals(
        FILE
            + " was made with peft_type LORA with use_dora: true, which Graft's method \"dora\""
            + " loads; it is not installed (installed: format, lora). Install the bundle that"
            + " provides \"dora\" and see 'graft:methods'.",
        e.getMessage());
  }

  @Test
  void aGraftMethodThatIsNotInstalledIsNamedWithItsVersion() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                AdapterMethods.resolve(
                    FILE,
                    json("{\"graft_methods\": [{\"name\": \"houlsby\", \"version\": \"1.2.0\"}]}"),
                    REGISTRY));
    assertTrue(e.getMessage().contains("made with method \"houlsby\" 1.2.0"), e.getMessage());
  }

  @Test
  void aConfigThatNamesNoMethodIsRefused() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> AdapterMethods.resolve(FILE, json("{\"r\": 8}"), REGISTRY));
    assertEquals(
        FILE + " names no method: it has neither \"graft_methods\" nor \"peft_type\".",
        e.getMessage());
  }
}
