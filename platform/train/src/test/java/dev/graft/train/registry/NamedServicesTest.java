package dev.graft.train.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class NamedServicesTest {
  private final NamedServices<String> services = new NamedServices<>();

  private static NamedServices.Entry<String> entry(long id, String name, String bundle) {
    return new NamedServices.Entry<>(id, name, bundle, "", bundle);
  }

  @Test
  void theFirstServiceOfANameStaysInServiceAndTheSecondIsRejected() {
    services.add(entry(7, "lora", "a 1.0.0"));
    services.add(entry(9, "lora", "b 1.0.0"));
    assertEquals(
        List.of("a 1.0.0"), services.inService().stream().map(NamedServices.Entry::value).toList());
    assertEquals(
        "The name \"lora\" is taken by a 1.0.0; uninstall one of the two bundles or rename one method.",
        services.rejected().get(0).problem());
    assertEquals("b 1.0.0", services.rejected().get(0).bundle());
  }

  @Test
  void registrationOrderDecidesNotArrivalOrder() {
    services.add(entry(9, "lora", "b"));
    services.add(entry(7, "lora", "a"));
    assertEquals("a", services.inService().get(0).value());
  }

  @Test
  void whenTheHolderGoesTheWaitingServiceTakesOver() {
    services.add(entry(7, "lora", "a"));
    services.add(entry(9, "lora", "b"));
    services.remove(7);
    assertEquals(
        List.of("b"), services.inService().stream().map(NamedServices.Entry::value).toList());
    assertEquals(List.of(), services.rejected());
  }

  @Test
  void aServiceWithAProblemIsNeverInService() {
    services.add(new NamedServices.Entry<>(3, null, "c", "Its name is missing.", "c"));
    services.add(entry(4, "dora", "d"));
    assertEquals(
        List.of("d"), services.inService().stream().map(NamedServices.Entry::value).toList());
    assertEquals("Its name is missing.", services.rejected().get(0).problem());
  }
}
