/**
 * What the prompt-learning bundles share (prompt tuning, P-tuning, prefix tuning, P-tuning v2), as
 * PEFT's {@code PromptLearningConfig} and {@code PeftModel} share it: the method instance base
 * ({@link dev.graft.method.prompt.spi.PromptLearning}: the {@code num_virtual_tokens} check, PEFT's
 * common {@code adapter_config.json} fields, and the one refusal to merge), and reparameterising
 * encoders ({@link dev.graft.method.prompt.spi.Encoder}) that are built into the training graph and
 * folded into the saved table by the same code. The prompt-tuning bundle exports it; the other
 * prompt-learning bundles import it.
 *
 * <p>1.0.0: first version.
 */
@Export
@Version("1.0.0")
package dev.graft.method.prompt.spi;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
