/** Hugging Face model folders: safetensors, config.json, tokenizers and chat templates. */
@Export
@Version("1.0.0")
package dev.graft.model;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
