package dev.graft.method.adalora;

import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import dev.graft.api.adapt.TargetSpec;
import dev.graft.method.lora.spi.LoraOptions;
import java.util.ArrayList;
import java.util.List;

/**
 * AdaLoRA's settings, checked: {@link #of} throws {@link IllegalArgumentException} naming the
 * option and what it allows. Names and defaults are PEFT's {@code AdaLoraConfig}, except {@code
 * delta_t} for PEFT's {@code deltaT} (Graft option names are lower-case).
 *
 * @param initR the rank every targeted layer starts with
 * @param targetR the average rank per layer the budget schedule ends at
 * @param tinit steps before the first pruning
 * @param tfinal last steps, in which the final ranks stay fixed
 * @param deltaT steps between two budget allocations
 * @param beta1 EMA factor of the sensitivity
 * @param beta2 EMA factor of the uncertainty
 * @param orthRegWeight weight of the orthogonality regulariser in the loss
 * @param totalStep the schedule's length, or null for the job's steps
 * @param alpha lora_alpha: the update is scaled by alpha / (init_r + 1e-5)
 * @param dropout dropout on the adapter input, in [0, 1)
 * @param targetModules target_modules as given
 * @param targets the parsed target selection
 */
record AdaLoraConfig(
    int initR,
    int targetR,
    int tinit,
    int tfinal,
    int deltaT,
    double beta1,
    double beta2,
    double orthRegWeight,
    Integer totalStep,
    double alpha,
    double dropout,
    List<String> targetModules,
    TargetSpec targets) {

  /**
   * AdaLoRA's options, then the LoRA options it shares (PEFT's AdaLoraConfig extends LoraConfig).
   */
  static final List<OptionDescriptor> OPTIONS = options();

  private static List<OptionDescriptor> options() {
    List<OptionDescriptor> all =
        new ArrayList<>(
            List.of(
                OptionDescriptor.of("init_r", OptionType.INT, "12", "rank each layer starts with"),
                OptionDescriptor.of(
                    "target_r",
                    OptionType.INT,
                    "8",
                    "average rank per layer once the budget schedule ends"),
                OptionDescriptor.of(
                    "tinit", OptionType.INT, "0", "warm-up steps before ranks are pruned"),
                OptionDescriptor.of(
                    "tfinal",
                    OptionType.INT,
                    "0",
                    "last steps, trained with the final ranks fixed"),
                OptionDescriptor.of(
                    "delta_t",
                    OptionType.INT,
                    "1",
                    "steps between two budget allocations (PEFT's deltaT)"),
                OptionDescriptor.of(
                    "beta1", OptionType.FLOAT, "0.85", "EMA factor of the sensitivity |p·grad|"),
                OptionDescriptor.of(
                    "beta2",
                    OptionType.FLOAT,
                    "0.85",
                    "EMA factor of the sensitivity's uncertainty"),
                OptionDescriptor.of(
                    "orth_reg_weight",
                    OptionType.FLOAT,
                    "0.5",
                    "weight of the orthogonality regulariser ‖AAᵀ−I‖ + ‖BᵀB−I‖ in the loss"),
                OptionDescriptor.of(
                    "total_step",
                    OptionType.INT,
                    "",
                    "steps of the budget schedule (PEFT requires it); empty: the job's steps"),
                OptionDescriptor.of(
                    "lora_alpha",
                    OptionType.FLOAT,
                    "8",
                    "scaling numerator: the update is lora_alpha / (init_r + 1e-5) · B·diag(E)·A")));
    for (String shared :
        List.of("lora_dropout", "target_modules", "exclude_modules", "layers_to_transform")) {
      all.add(LoraOptions.OPTIONS.stream().filter(o -> o.name().equals(shared)).findFirst().get());
    }
    return List.copyOf(all);
  }

  /** Reads and checks the {@link #OPTIONS} of {@code o}. */
  static AdaLoraConfig of(Options o) {
    int initR = o.getInt("init_r");
    atLeast("init_r", initR, 1);
    int targetR = o.getInt("target_r");
    if (targetR < 0 || targetR > initR) {
      throw new IllegalArgumentException(
          "target_r must be between 0 and init_r (" + initR + "), not " + targetR + ".");
    }
    int tinit = o.getInt("tinit");
    atLeast("tinit", tinit, 0);
    int tfinal = o.getInt("tfinal");
    atLeast("tfinal", tfinal, 0);
    int deltaT = o.getInt("delta_t");
    atLeast("delta_t", deltaT, 1);
    double beta1 = unitInterval("beta1", o.getDouble("beta1"));
    double beta2 = unitInterval("beta2", o.getDouble("beta2"));
    double orth = o.getDouble("orth_reg_weight");
    if (orth <= 0) {
      throw new IllegalArgumentException(
          "orth_reg_weight must be greater than 0 (PEFT refuses 0), not " + orth + ".");
    }
    Integer totalStep = o.has("total_step") ? o.getInt("total_step") : null;
    if (totalStep != null) {
      checkSchedule(tinit, tfinal, totalStep);
    }
    double dropout = o.getDouble("lora_dropout");
    if (dropout < 0 || dropout >= 1) {
      throw new IllegalArgumentException("lora_dropout must be in [0, 1), not " + dropout + ".");
    }
    List<Integer> layers = new ArrayList<>();
    for (String s : o.getList("layers_to_transform")) {
      try {
        layers.add(Integer.parseInt(s.trim()));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "layers_to_transform: \"" + s + "\" is not a whole number.");
      }
    }
    TargetSpec targets =
        TargetSpec.parse(o.getList("target_modules"))
            .excluding(o.getList("exclude_modules"))
            .onLayers(layers);
    return new AdaLoraConfig(
        initR,
        targetR,
        tinit,
        tfinal,
        deltaT,
        beta1,
        beta2,
        orth,
        totalStep,
        o.getDouble("lora_alpha"),
        dropout,
        o.getList("target_modules"),
        targets);
  }

  /**
   * PEFT's check of the schedule: pruning needs steps between the warm-up and the final phase.
   *
   * @throws IllegalArgumentException unless 0 < totalStep and tinit < totalStep - tfinal
   */
  static void checkSchedule(int tinit, int tfinal, long totalStep) {
    if (totalStep <= 0 || tinit >= totalStep - tfinal) {
      throw new IllegalArgumentException(
          "AdaLoRA's schedule needs tinit < total_step - tfinal, but tinit is "
              + tinit
              + ", tfinal "
              + tfinal
              + " and total_step "
              + totalStep
              + "; lower tinit or tfinal, or train more steps.");
    }
  }

  /** PEFT's scale of the update: lora_alpha (init_r when alpha is 0) over ranknum + 1e-5. */
  double scale() {
    double scaling = alpha > 0 ? alpha : initR;
    return scaling / ((float) initR + 1e-5f);
  }

  private static void atLeast(String option, int value, int min) {
    if (value < min) {
      throw new IllegalArgumentException(
          option + " must be at least " + min + ", not " + value + ".");
    }
  }

  private static double unitInterval(String option, double value) {
    if (value <= 0 || value >= 1) {
      throw new IllegalArgumentException(
          option + " must be in (0, 1) (an EMA factor), not " + value + ".");
    }
    return value;
  }
}
