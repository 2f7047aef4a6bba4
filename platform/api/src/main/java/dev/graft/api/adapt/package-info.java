/**
 * How a method changes a model. The platform builds the model's forward graph and hands each method
 * an {@link dev.graft.api.adapt.Adaptation}: the method finds target sites, declares parameters
 * with their initialisation, rewrites ops, chooses what trains, and contributes parameter groups,
 * loss terms, an objective, a sample format and step hooks. Shared work (walking the graph,
 * freezing, saving, merging) stays in the platform, like PEFT's {@code BaseTuner}.
 *
 * <p>What each method family uses:
 *
 * <ul>
 *   <li>LoRA, rsLoRA, DoRA, LoRA-FA, LoRA+: {@link dev.graft.api.adapt.Adaptation#linears}, {@link
 *       dev.graft.api.adapt.Adaptation#parameter}, {@link
 *       dev.graft.api.adapt.Adaptation#rewriteLinear}, {@link dev.graft.api.adapt.Adaptation#group}
 *       (per-group learning rate), {@link dev.graft.api.adapt.Adaptation#setTrainable} (freeze
 *       after init).
 *   <li>PiSSA, QLoRA: {@link dev.graft.api.adapt.Adaptation#weight} (read W, e.g. for an SVD) and
 *       {@link dev.graft.api.adapt.Adaptation#replaceWeight} (residual or NF4-dequantised W).
 *   <li>AdaLoRA: {@link dev.graft.api.adapt.Adaptation#addLoss} (orthogonality), {@link
 *       dev.graft.api.adapt.Adaptation#output} and {@link dev.graft.api.adapt.StepHook}
 *       (importance, budget schedule, masking between steps).
 *   <li>Delta-LoRA: a {@link dev.graft.api.adapt.StepHook} that writes frozen W.
 *   <li>LoRA-drop: {@link dev.graft.api.adapt.MethodInstance#calibrate} before training.
 *   <li>MoELoRA: {@link dev.graft.api.adapt.Adaptation#input} for the task id the dataset supplies,
 *       per token.
 *   <li>Prompt, P-, prefix and P-tuning v2: {@link
 *       dev.graft.api.adapt.Adaptation#prependVirtualTokens} and {@link
 *       dev.graft.api.adapt.Adaptation#addKeyValuePrefix}; encoders folded away in {@link
 *       dev.graft.api.adapt.MethodInstance#save}.
 *   <li>Houlsby adapters: {@link dev.graft.api.adapt.Adaptation#insert}.
 *   <li>BitFit and full fine-tuning: {@link dev.graft.api.adapt.Adaptation#setTrainable}, and
 *       {@link dev.graft.api.adapt.Adaptation#rewriteLinear} to add zero biases.
 *   <li>Instruction tuning: {@link dev.graft.api.adapt.Adaptation#sampleFormat} with a {@link
 *       dev.graft.api.adapt.SampleFormat} that renders prompt/completion and instruction samples as
 *       a conversation (the model's chat template, or an instruction template such as Alpaca's) and
 *       learns only the responses; it adds no parameters, so it composes with an adapter method or
 *       full fine-tuning. Packing stays the platform's job.
 *   <li>DPO: {@link dev.graft.api.adapt.Adaptation#objective} (pairwise, with reference
 *       log-probabilities: {@link dev.graft.api.adapt.LogProbs}); the platform renders each
 *       (prompt, chosen, rejected) sample as two rows, or a {@link
 *       dev.graft.api.adapt.SampleFormat} renders it as two sequences, chosen first.
 * </ul>
 */
@Export
@Version("2.0.0")
package dev.graft.api.adapt;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
