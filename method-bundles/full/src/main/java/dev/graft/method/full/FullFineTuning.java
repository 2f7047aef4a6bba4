package dev.graft.method.full;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodName;
import dev.graft.api.Options;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.MethodInstance;
import java.util.List;
import java.util.Map;
import org.osgi.service.component.annotations.Component;

/**
 * Full fine-tuning: every weight of the model trains. Its result is a whole model folder, not an
 * adapter, so there is nothing to merge.
 */
@Component(service = FineTuningMethod.class)
@MethodName("full")
public final class FullFineTuning implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo("full", "Full fine-tuning", MethodFamily.FULL, null, List.of());

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new MethodInstance() {
      @Override
      public void adapt(Adaptation adaptation) {
        adaptation.setTrainable(name -> true, true);
      }

      /** Not a PEFT adapter: the platform writes a whole model folder. */
      @Override
      public Map<String, Object> adapterConfig() {
        return Map.of();
      }

      /**
       * Nothing: the trained weights are the model's own, which the platform saves as a model
       * folder ({@code model/}) when no method writes them into an adapter.
       */
      @Override
      public void save(AdapterWriter writer) {}
    };
  }
}
