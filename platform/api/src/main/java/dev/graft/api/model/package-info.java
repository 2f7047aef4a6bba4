/**
 * Working with models outside a training job: inspect a Hugging Face model folder, generate text
 * (with or without an adapter), merge an adapter into the base weights or take it back out, export
 * to ONNX Runtime, and evaluate loss, perplexity and exact match on a dataset, or DPO's loss and
 * rewards on preference pairs.
 *
 * <p>1.2: the task of an adapter conditioned on tasks (MoELoRA): {@code GenerationSettings.task},
 * {@code EvaluationSettings.task} and {@code ModelService.merge/unmerge(…, task)}; {@code
 * ModelService.evaluatePreferences} and {@code PreferenceEvaluation}.
 *
 * <p>1.3: {@code ModelService.export}, an ONNX Runtime model with a key-value cache (and optionally
 * ONNX Runtime's LoRA adapter file); {@code ModelService.quantize} (a 4-bit copy of a model folder)
 * and {@code ModelService.quantisation} (whether a folder is one), default methods.
 *
 * <p>1.4: {@code ModelService.export(…, task)}, the export of one task of an adapter conditioned on
 * tasks, a default method.
 */
@Export
@Version("1.4.0")
package dev.graft.api.model;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
