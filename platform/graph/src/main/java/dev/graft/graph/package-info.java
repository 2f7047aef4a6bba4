/**
 * Typed tensor-graph IR: build graphs op by op with shape inference, differentiate them, lower them
 * to ONNX.
 *
 * <p>{@link dev.graft.graph.Graph} is the whole builder; {@link dev.graft.graph.GraphOps} is its
 * op-building part alone (every op and constant, no declarations or rewiring), the view a
 * fine-tuning method gets. Graph is written in layers, one file per kind of op, each extending the
 * one before (package-private, so the exported types stay few): {@code GraphCore} (inputs,
 * parameters, outputs, replaceUses, the node list), {@code ElementwiseOps}, {@code ShapeOps}
 * (shapes and indexing), {@code NnOps} (reductions, normalisations, activations, linear algebra),
 * {@code CompositeOps} (RoPE, masks, dropout, losses, LSTM cell, 4-bit dequantisation) and {@code
 * Graph} (gradients, lowering). A new op goes into the file of its kind, with its contract on
 * GraphOps.
 */
@Export
@Version("1.3.0")
package dev.graft.graph;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
