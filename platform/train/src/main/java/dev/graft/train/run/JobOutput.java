package dev.graft.train.run;

import dev.graft.api.adapt.MethodInstance;
import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import dev.graft.train.adapt.GraphAdaptation;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * What a finished job saves, so that nothing trained is lost (platform/train/ADAPTERS.md):
 *
 * <ul>
 *   <li>{@code adapter/}, when a method declared parameters or wrote tensors: every method's {@link
 *       MethodInstance#save} output (by default its declared parameters and the model's own
 *       parameters it made trainable), {@code adapter_config.json} with the methods' fields and
 *       {@value AdapterMethods#FIELD}. With a {@code peft_type} it is a PEFT adapter; without, the
 *       Graft layout.
 *   <li>{@code model/}, when some of the model's own weights trained and no method wrote them into
 *       the adapter (full fine-tuning): a Hugging Face model folder with those weights replaced. An
 *       {@code adapter/} beside it then applies to {@code model/}, which its {@code
 *       base_model_name_or_path} names.
 * </ul>
 */
final class JobOutput {
  private JobOutput() {}

  /**
   * One method of the job.
   *
   * @param name the name the method adapted the graph under ({@link GraphAdaptation#adapting})
   * @param entry its {@value AdapterMethods#FIELD} entry ({@link AdapterMethods#entry})
   */
  record Method(String name, MethodInstance instance, Map<String, Object> entry) {}

  /**
   * Writes {@code adapter/}, {@code model/} or both into {@code outputDir}.
   *
   * @param graph the trained graph: parameters, shapes and which of them trained
   * @param values a parameter's value after training
   * @param checkpointNames graph name to checkpoint name of the model's own weights
   * @param extras further JSON files for both folders (file name → content)
   */
  static void write(
      Path outputDir,
      Path modelDir,
      Graph graph,
      GraphAdaptation adaptation,
      List<Method> methods,
      Function<String, float[]> values,
      Map<String, String> checkpointNames,
      Map<String, Map<String, Object>> extras) {
    Map<String, Object> config = new LinkedHashMap<>();
    for (Method m : methods) {
      Map<String, Object> fields = m.instance().adapterConfig();
      if (fields.containsKey(AdapterMethods.FIELD)) {
        throw new IllegalArgumentException(
            "Method "
                + m.name()
                + " writes \""
                + AdapterMethods.FIELD
                + "\" into adapter_config.json; that field is the platform's, remove it.");
      }
      config.putAll(fields);
    }
    AdapterFiles.Collector collector =
        new AdapterFiles.Collector(
            p -> graph.tensor(p).shape().sizes(), values, p -> graph.isTrainable(graph.tensor(p)));
    for (Method m : methods) {
      collector.save(m.instance(), adaptation.tensorsOf(m.name()));
    }

    Set<String> parameters = new LinkedHashSet<>();
    graph.parameters().forEach(p -> parameters.add(p.name()));
    Set<String> inAdapter = new LinkedHashSet<>();
    collector.written.keySet().forEach(k -> inAdapter.add(AdapterFiles.parameterOf(k, parameters)));
    Map<String, float[]> trainedBase = new LinkedHashMap<>();
    for (Tensor t : graph.trainables()) {
      if (checkpointNames.containsKey(t.name()) && !inAdapter.contains(t.name())) {
        trainedBase.put(t.name(), values.apply(t.name()));
      }
    }
    Path model = outputDir.resolve("model");
    if (!trainedBase.isEmpty()) {
      Adapters.writeModel(modelDir, model, checkpointNames, trainedBase, extras);
    }
    if (!collector.written.isEmpty() || !adaptation.declared().isEmpty()) {
      config.put(AdapterMethods.FIELD, methods.stream().map(Method::entry).toList());
      config.put(
          "base_model_name_or_path",
          (trainedBase.isEmpty() ? modelDir : model).toAbsolutePath().toString());
      config.put("inference_mode", true);
      // PEFT's prompt tuning names the tokenizer its TEXT init read: the job's model folder.
      if (config.containsKey("tokenizer_name_or_path")
          && config.get("tokenizer_name_or_path") == null) {
        config.put("tokenizer_name_or_path", modelDir.toAbsolutePath().toString());
      }
      AdapterFiles.write(outputDir.resolve("adapter"), config, collector, extras);
    }
  }
}
