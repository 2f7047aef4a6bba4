package dev.graft.train.job;

import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import java.util.List;

/**
 * Every key a job specification may set, with its default. Names and defaults follow Hugging Face
 * {@code TrainingArguments} and TRL's {@code SFTConfig}, so settings carry over from those tools.
 * Method options are set as {@code <method>.<option>}, e.g. {@code lora.r=16}.
 */
public final class JobKeys {
  private JobKeys() {}

  /** The job keys, in the order {@code graft:train --help} lists them. */
  public static final List<OptionDescriptor> ALL =
      List.of(
          key(
              "model",
              OptionType.STRING,
              "",
              "Hugging Face model folder (config.json, safetensors, tokenizer.json)"),
          key(
              "method",
              OptionType.LIST,
              "",
              "fine-tuning methods, e.g. lora, or lora,instruction-tuning"),
          key(
              "data",
              OptionType.STRING,
              "",
              "training data: a JSONL file, optionally gzip-compressed"),
          OptionDescriptor.choice(
              "data_format",
              "auto",
              "sample format; auto detects it from the first line",
              "auto",
              "text",
              "prompt_completion",
              "instruction",
              "messages",
              "preference"),
          key(
              "data_columns",
              OptionType.MAP,
              "",
              "rename fields for the format, e.g. prompt=question,completion=answer (in YAML or"
                  + " JSON also a map)"),
          key(
              "validation_split",
              OptionType.FLOAT,
              "0.0",
              "fraction of the samples held out of training, written to validation.jsonl for graft:eval"),
          key(
              "eval_data",
              OptionType.STRING,
              "",
              "validation data: a JSONL file read as data is (data_format, data_columns), in place"
                  + " of validation_split"),
          key(
              "eval_steps",
              OptionType.INT,
              "0",
              "evaluate the validation loss (eval_loss) every this many steps and at the end; 0"
                  + " only at the end. Needs eval_data or validation_split"),
          key(
              "save_best",
              OptionType.BOOLEAN,
              "false",
              "keep the result with the lowest eval_loss in best/ (best.json says its step), and"
                  + " its checkpoint past rotation"),
          key(
              "early_stopping_patience",
              OptionType.INT,
              "0",
              "stop after this many evaluations in a row without a better eval_loss; 0 never stops"
                  + " early"),
          key(
              "early_stopping_threshold",
              OptionType.FLOAT,
              "0.0",
              "how much eval_loss must fall below the best so far to count as better"),
          key("max_samples", OptionType.INT, "0", "use at most this many samples; 0 uses all"),
          key(
              "adapter",
              OptionType.STRING,
              "",
              "an adapter folder to continue training from, made by this job's methods"),
          key(
              "ref_adapter",
              OptionType.STRING,
              "",
              "an objective with a reference model (dpo): the base model with this adapter folder,"
                  + " frozen, is the reference (TRL's ref_adapter_name); default the base model"),
          key(
              "precompute_ref_log_probs",
              OptionType.BOOLEAN,
              "false",
              "an objective with a reference model (dpo): compute the reference's log-probabilities"
                  + " of every training row once before training, then free the reference model"),
          key("backend", OptionType.STRING, "cpu", "compute backend, see graft:backends"),
          key(
              "output_dir",
              OptionType.STRING,
              "",
              "where checkpoints, metrics, report and adapter go; default <graft home>/jobs/<id>"),
          key("seed", OptionType.INT, "42", "seed for initialisation, shuffling and dropout"),
          key("num_train_epochs", OptionType.FLOAT, "1", "passes over the training data"),
          key(
              "max_steps",
              OptionType.INT,
              "-1",
              "optimizer steps; overrides num_train_epochs when positive"),
          key("per_device_train_batch_size", OptionType.INT, "8", "samples per micro-batch"),
          key(
              "gradient_accumulation_steps",
              OptionType.INT,
              "1",
              "micro-batches per optimizer step"),
          key("max_length", OptionType.INT, "1024", "tokens per sample (or per packed row)"),
          key(
              "packing",
              OptionType.BOOLEAN,
              "false",
              "pack several samples into each row, attention kept inside each"),
          OptionDescriptor.choice(
              "truncation",
              "warn",
              "what to do with samples longer than max_length",
              "warn",
              "fail"),
          key(
              "max_prompt_length",
              OptionType.INT,
              "0",
              "keep at most this many prompt tokens, the prompt's end (TRL's DPO); 0 keeps all"),
          OptionDescriptor.choice(
              "truncation_mode",
              "keep_start",
              "which part of a sample longer than max_length is kept",
              "keep_start",
              "keep_end"),
          key("learning_rate", OptionType.FLOAT, "5e-5", "peak learning rate of AdamW"),
          OptionDescriptor.choice(
              "lr_scheduler_type",
              "linear",
              "learning-rate schedule after warm-up",
              "linear",
              "cosine",
              "constant"),
          key("warmup_steps", OptionType.INT, "0", "steps of linear warm-up from 0"),
          key(
              "warmup_ratio",
              OptionType.FLOAT,
              "0.0",
              "warm-up as a fraction of all steps, when warmup_steps is 0"),
          key("weight_decay", OptionType.FLOAT, "0.0", "decoupled weight decay of AdamW"),
          key("adam_beta1", OptionType.FLOAT, "0.9", "AdamW beta1"),
          key("adam_beta2", OptionType.FLOAT, "0.999", "AdamW beta2"),
          key("adam_epsilon", OptionType.FLOAT, "1e-8", "AdamW epsilon"),
          key(
              "max_grad_norm",
              OptionType.FLOAT,
              "1.0",
              "global gradient-norm clipping; 0 disables it"),
          key(
              "skip_nonfinite_steps",
              OptionType.INT,
              "0",
              "skip up to this many steps whose loss or gradient is NaN or infinite, without"
                  + " applying them; 0 stops the job at the first"),
          key(
              "completion_only_loss",
              OptionType.BOOLEAN,
              "true",
              "prompt/completion data: loss on the completion only"),
          key(
              "assistant_only_loss",
              OptionType.BOOLEAN,
              "true",
              "conversation data: loss on assistant turns only"),
          key("save_steps", OptionType.INT, "500", "write a checkpoint every this many steps"),
          // TRL's default is 10; Graft shows every step unless asked, as short runs are common
          // here.
          key(
              "logging_steps",
              OptionType.INT,
              "1",
              "print a progress line every this many steps (metrics.csv keeps every step)"),
          key(
              "report_png",
              OptionType.BOOLEAN,
              "true",
              "when the job completes, render report.html to report.png with headless Chromium, if"
                  + " one is installed (chromium on PATH, or the GRAFT_CHROMIUM variable)"));

  private static OptionDescriptor key(String name, OptionType type, String def, String help) {
    return OptionDescriptor.of(name, type, def, help);
  }
}
