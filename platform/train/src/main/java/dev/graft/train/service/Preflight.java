package dev.graft.train.service;

import dev.graft.api.MethodRegistry;
import dev.graft.api.Options;
import dev.graft.model.ModelConfig;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.Tokenizer;
import dev.graft.train.data.Jsonl;
import dev.graft.train.job.JobSpec;
import dev.graft.train.run.SftRun;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Reads what a job names before its folder is made: the model's config.json, its safetensors
 * headers against that config, its tokenizer, the data lines, the adapter folder to continue from,
 * the reference adapter's folder and the validation data, and that the reference keys have an
 * objective that uses them. A bad file is refused here, in one sentence naming it, and nothing is
 * written under the output path. Tensor data is not read; the run maps it later.
 */
final class Preflight {
  private Preflight() {}

  /** Checks the files of a parsed job; see the class comment. */
  static void check(JobSpec spec, MethodRegistry registry) {
    Options job = spec.job();
    Path model = Path.of(job.getString("model"));
    if (!Files.isRegularFile(model.resolve(ModelConfig.FILE))) {
      throw new IllegalArgumentException(
          "Model folder "
              + model
              + " has no config.json; point model at a Hugging Face model folder.");
    }
    Path data = Path.of(job.getString("data"));
    if (!Files.isRegularFile(data)) {
      throw new IllegalArgumentException("Data file " + data + " does not exist.");
    }
    Path evalData = job.has("eval_data") ? Path.of(job.getString("eval_data")) : null;
    if (evalData != null && !Files.isRegularFile(evalData)) {
      throw new IllegalArgumentException(
          "eval_data file " + evalData + " does not exist; point it at a JSONL file.");
    }
    String out = job.has("output_dir") ? job.getString("output_dir") : "";
    if (!out.isEmpty()
        && Path.of(out)
            .toAbsolutePath()
            .normalize()
            .startsWith(model.toAbsolutePath().normalize())) {
      throw new IllegalArgumentException(
          "output_dir "
              + out
              + " lies inside the model folder "
              + model
              + "; choose a folder outside it, so that the model stays as it was.");
    }
    try {
      ModelConfig config = ModelConfig.read(model.resolve(ModelConfig.FILE));
      try (SafetensorsReader checkpoint = SafetensorsReader.open(model)) {
        config.check(checkpoint);
      }
      Tokenizer.load(model);
      Jsonl.read(
          data,
          Jsonl.Format.parse(job.getString("data_format")),
          job.getMap("data_columns"),
          job.getInt("max_samples"));
      if (evalData != null) {
        Jsonl.read(
            evalData,
            Jsonl.Format.parse(job.getString("data_format")),
            job.getMap("data_columns"),
            0);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + e.getMessage(), e);
    }
    for (String key : List.of("adapter", "ref_adapter")) {
      if (job.has(key)) {
        Path adapter = Path.of(job.getString(key));
        if (!Files.isRegularFile(adapter.resolve("adapter_config.json"))) {
          throw new IllegalArgumentException(
              "Adapter folder "
                  + adapter
                  + " has no adapter_config.json; set "
                  + key
                  + " to a job's adapter/ folder.");
        }
      }
    }
    if (job.has("ref_adapter") || job.getBoolean("precompute_ref_log_probs")) {
      SftRun.checkReferenceKeys(job, SftRun.objective(spec, registry));
    }
  }
}
