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
 *   <li>LoRA, rsLoRA, LoRA+: {@link dev.graft.api.adapt.Adaptation#linears}, {@link
 *       dev.graft.api.adapt.Adaptation#parameter}, {@link
 *       dev.graft.api.adapt.Adaptation#rewriteLinear}, {@link dev.graft.api.adapt.Adaptation#group}
 *       (per-group learning rate).
 *   <li>LoRA-FA: A as a frozen {@link dev.graft.api.adapt.Adaptation#parameter} ({@code
 *       trainable=false}): fed once as an initialiser, no gradient, no moments, saved with B.
 *   <li>DoRA: {@link dev.graft.graph.GraphOps#stopGradient} for the detached row norm; {@link
 *       dev.graft.api.adapt.Adaptation#frozen} for ‖W‖² computed once from {@link
 *       dev.graft.api.adapt.Adaptation#weight}; {@link dev.graft.api.adapt.Adaptation#weightTensor}
 *       for W·Aᵀ and the bias in the graph.
 *   <li>PiSSA, QLoRA: {@link dev.graft.api.adapt.Adaptation#weight} (read W for an SVD or a
 *       quantiser), {@link dev.graft.api.adapt.Adaptation#frozen} (the residual, or UINT8 NF4 codes
 *       and their scales) and {@link dev.graft.api.adapt.Adaptation#replaceWeight} (W computed from
 *       them in the graph).
 *   <li>AdaLoRA: {@link dev.graft.api.adapt.Adaptation#addLoss} (orthogonality), {@link
 *       dev.graft.api.adapt.Adaptation#exposeGradient} and a {@link dev.graft.api.adapt.StepHook}
 *       with a cadence (sensitivity, budget schedule, masking between steps), its EMAs in {@link
 *       dev.graft.api.adapt.Adaptation#state}; {@link dev.graft.api.adapt.Adaptation#savedShape}
 *       for the pruned ranks of a loaded adapter.
 *   <li>Delta-LoRA: {@link dev.graft.api.adapt.Adaptation#state} for the B_K·A_K factors, written
 *       by a {@link dev.graft.api.adapt.StepHook} every K steps, and {@link
 *       dev.graft.graph.GraphOps#stopGradient} for the λ·(BA − B_K A_K) term.
 *   <li>LoRA-drop: {@link dev.graft.api.adapt.Adaptation#output} and {@link
 *       dev.graft.api.adapt.Adaptation#calibration}: warm-up steps, {@link
 *       dev.graft.api.adapt.MethodInstance#calibrate}, then the graph rebuilt.
 *   <li>MoELoRA: {@link dev.graft.api.adapt.Adaptation#input(String, java.util.List)} for the task
 *       the dataset supplies (a name from the method's list, or its id), per token.
 *   <li>Prompt, P-, prefix and P-tuning v2: {@link
 *       dev.graft.api.adapt.Adaptation#prependVirtualTokens} and {@link
 *       dev.graft.api.adapt.Adaptation#addKeyValuePrefix}; encoders folded away in {@link
 *       dev.graft.api.adapt.MethodInstance#save}, and the folded table declared instead when {@link
 *       dev.graft.api.adapt.Adaptation#loadingAdapter}; text initialisation through {@link
 *       dev.graft.api.adapt.Adaptation#encode}.
 *   <li>Houlsby and Pfeiffer adapters: {@link dev.graft.api.adapt.Adaptation#insert}, Pfeiffer's
 *       with the residual stream.
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
 *
 * <p>Version 2.0 (what changed from 1.1): methods get the narrow {@link dev.graft.graph.GraphOps}
 * instead of the mutable graph ({@code Adaptation.graph()}, {@link
 * dev.graft.api.adapt.LinearRewrite}, {@link dev.graft.api.adapt.Objective}); {@code
 * Objective.loss} takes {@link dev.graft.api.adapt.LogProbs}; {@code Adaptation.input} is per
 * token, (B, T); new sites {@code frozen}, {@code state}, {@code exposeGradient}, {@code
 * onStep(hook, every)} and {@code calibration}; {@link dev.graft.api.adapt.StepContext} gains the
 * phase, phase ends and gradients; {@link dev.graft.api.adapt.Calibration} runs after the warm-up;
 * {@link dev.graft.api.adapt.AdapterWriter} lists each method's own tensors. {@link
 * dev.graft.api.adapt.MethodInstance#differenceAtInit} says whether the adapted model starts as the
 * base model (the conformance matrix checks it). Every site is honoured in training, evaluation,
 * generation, saving and loading, or refused when a job starts.
 *
 * <p>Version 2.1: {@code Adaptation.loadingAdapter()} (whether the graph applies a saved adapter)
 * and {@code Adaptation.encode} (the model's tokenizer, in training), both default methods.
 *
 * <p>Version 2.2, default methods only: {@code Adaptation.savedShape} (the shapes of the adapter
 * being loaded, for methods whose saved sizes vary by module, as AdaLoRA's pruned ranks); {@code
 * Adaptation.insert} with a {@link java.util.function.BinaryOperator}, which hands the module the
 * residual stream beside the branch (AdapterHub's Pfeiffer placement); {@code
 * Adaptation.tensor(name)} (a parameter or state tensor by name, for a rewrite over tensors that
 * another declared, such as Delta-LoRA's over LoRA's A and B); {@code Adaptation.input(name,
 * labels)} (a per-sample input whose field may hold text labels, such as MoELoRA's task names);
 * {@code Calibration.log(line)} (a line in the job's log). A saved adapter carries its job's
 * calibration answers ({@code calibration.json}), which loading replays to {@code
 * MethodInstance.calibrate} before {@code adapt}, so a method that chose its sites from data
 * (LoRA-drop) rebuilds the same graph; {@code Adaptation.weightTensor} (a base weight as a graph
 * tensor, for DoRA's row norm); {@code Objective.metrics} (named scalars reported beside the loss
 * at every step).
 *
 * <p>Version 2.3: {@code Adaptation.quantised(parameter)} (a default method) and {@link
 * dev.graft.api.adapt.QuantisedWeight}: the codes and scales of a weight that the checkpoint stores
 * 4-bit quantised, fed from the checkpoint, so that QLoRA on such a folder holds no float copy.
 */
@Export
@Version("2.4.0")
package dev.graft.api.adapt;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
