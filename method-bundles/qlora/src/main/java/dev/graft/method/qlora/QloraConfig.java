package dev.graft.method.qlora;

import dev.graft.api.Options;
import dev.graft.api.adapt.TargetSpec;
import dev.graft.api.quant.FourBit;
import java.util.List;

/**
 * QLoRA's settings, read from the method's options.
 *
 * @param type the 4-bit data type ({@code quant_type})
 * @param doubleQuant whether the block scales are quantised too ({@code double_quant})
 * @param modules the linear layers whose weights are quantised ({@code modules})
 */
record QloraConfig(FourBit.Type type, boolean doubleQuant, TargetSpec modules) {
  /**
   * Reads checked options.
   *
   * @throws IllegalArgumentException for a compute type the backends do not run quantised weights
   *     in
   */
  static QloraConfig of(Options options) {
    String compute = options.getString("compute_dtype");
    if (!compute.equals("float32")) {
      throw new IllegalArgumentException(
          "compute_dtype \"" + compute + "\" is not supported; use float32.");
    }
    List<String> modules = options.getList("modules");
    return new QloraConfig(
        FourBit.Type.of(options.getString("quant_type")),
        options.getBoolean("double_quant"),
        modules.isEmpty()
            ? new TargetSpec(TargetSpec.Kind.ALL_LINEAR, List.of(), List.of(), List.of())
            : TargetSpec.parse(modules));
  }
}
