/**
 * Running a {@link dev.graft.api.backend.Program} in ONNX Runtime, shared by the CPU and CUDA
 * backends: their graphs are the same, only the execution provider differs.
 */
@Export
@Version("1.1.0")
package dev.graft.backend.cpu.ort;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
