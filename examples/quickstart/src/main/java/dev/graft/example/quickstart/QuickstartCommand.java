package dev.graft.example.quickstart;

import dev.graft.api.MethodRegistry;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.model.ModelService;
import dev.graft.api.train.TrainingService;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.apache.felix.service.command.Descriptor;
import org.apache.felix.service.command.Parameter;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * {@code graft:quickstart}: Graft's main job in one command. A third-party bundle: it uses Graft's
 * published API only (the training and model services, the registries, model folders).
 */
@Component(
    service = QuickstartCommand.class,
    property = {"osgi.command.scope=graft", "osgi.command.function=quickstart"})
public final class QuickstartCommand {
  /** The methods the quickstart trains with. */
  private static final List<String> NEEDS = List.of("full", "lora");

  @Reference TrainingService training;
  @Reference ModelService models;
  @Reference BackendRegistry backends;
  @Reference MethodRegistry methods;

  private Path home;

  @Activate
  void activate(BundleContext context) {
    String configured = context.getProperty("graft.home");
    home = Path.of(configured == null ? System.getProperty("user.dir") + "/.graft" : configured);
  }

  @Descriptor(
      "quickstart: a tiny model fails a task, LoRA fine-tunes it (printing the loss), it succeeds;"
          + " saves the PEFT adapter and the report")
  public String quickstart(
      @Descriptor("LoRA steps")
          @Parameter(names = "--steps", absentValue = Quickstart.Settings.STEPS)
          int steps,
      @Descriptor("full fine-tuning steps that make the base model")
          @Parameter(names = "--pretrain-steps", absentValue = Quickstart.Settings.PRETRAIN_STEPS)
          int pretrainSteps,
      @Descriptor("LoRA learning rate")
          @Parameter(names = "--learning-rate", absentValue = Quickstart.Settings.LEARNING_RATE)
          double learningRate,
      @Descriptor("seed of the weights, the data and the training runs")
          @Parameter(names = "--seed", absentValue = Quickstart.Settings.SEED)
          long seed,
      @Descriptor("compute backend, see graft:backends")
          @Parameter(names = "--backend", absentValue = Quickstart.Settings.BACKEND)
          String backend)
      throws IOException, InterruptedException {
    for (String method : NEEDS) {
      if (methods.find(method).isEmpty()) {
        throw new IllegalStateException(
            "The quickstart needs the \""
                + method
                + "\" method, which is not installed; copy the dev.graft.method."
                + method
                + " bundle into deploy/.");
      }
    }
    backends.requireAvailable(backend); // before training, not after it
    Quickstart.Settings settings =
        new Quickstart.Settings(pretrainSteps, steps, learningRate, seed, backend);
    return new Quickstart(training, models, home.resolve("quickstart"), System.out)
        .run(settings)
        .summary();
  }
}
