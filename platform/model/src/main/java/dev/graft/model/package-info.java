/**
 * Hugging Face model folders: safetensors, config.json, tokenizers, chat templates, the forward
 * graphs of the supported architectures, and generation.
 *
 * <p>1.3: {@code FourBitCheckpoint} (checkpoints whose linear weights are stored 4-bit, in
 * bitsandbytes' layout) and {@code ModelGraph.storedTensor} (a parameter fed from the checkpoint as
 * stored); {@code Generator.prefixLength}.
 */
@Export
@Version("1.3.0")
package dev.graft.model;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
