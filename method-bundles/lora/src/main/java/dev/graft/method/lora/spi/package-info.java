/**
 * LoRA for bundles that build on it (LoRA+, LoRA-FA, later DoRA, PiSSA, AdaLoRA): PEFT's {@code
 * LoraConfig} options ({@link dev.graft.method.lora.spi.LoraOptions}), their checked values ({@link
 * dev.graft.method.lora.spi.LoraConfig}) and the LoRA method instance ({@link
 * dev.graft.method.lora.spi.Lora}) with hooks that a variant overrides: whether A trains, how A
 * starts, what the variant adds once every site is adapted (parameter groups), and its extra {@code
 * adapter_config.json} fields. A variant's own bundle imports this package; the lora bundle exports
 * it.
 *
 * <p>1.0.0: first version. 1.1.0 (additive): hooks for a layer's rank, B's start, the adapted
 * output (with the low-rank update and the site's A and B as graph tensors), the saved form of a
 * tensor and the merged weight — what DoRA and PiSSA override. 1.2.0 (additive): {@link
 * dev.graft.method.lora.spi.LowRank}, the merge's low-rank product with a factor per rank.
 */
@Export
@Version("1.2.0")
package dev.graft.method.lora.spi;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
