/**
 * Hugging Face model folders: safetensors, config.json, tokenizers, chat templates, the forward
 * graphs of the supported architectures, and generation.
 */
@Export
@Version("1.2.0")
package dev.graft.model;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
