/**
 * bitsandbytes' blockwise 4-bit quantisation (NF4, FP4, double-quantised scales), shared by the
 * platform, which reads and writes 4-bit checkpoints ({@code graft:quantize}) and dequantises them
 * where floats are needed, and by the QLoRA method, which quantises float weights when a job starts
 * and dequantises inside the step graph. It lives in the API because both sides must agree on it
 * bit for bit and the API is the one bundle both depend on.
 */
@Export
@Version("1.0.0")
package dev.graft.api.quant;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
