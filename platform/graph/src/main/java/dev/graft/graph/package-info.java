/**
 * Typed tensor-graph IR: build graphs op by op with shape inference, differentiate them, lower them
 * to ONNX.
 */
@Export
@Version("1.1.0")
package dev.graft.graph;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
