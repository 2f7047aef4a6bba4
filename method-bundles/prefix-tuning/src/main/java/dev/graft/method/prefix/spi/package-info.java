/**
 * Prefix tuning for bundles that build on it (P-tuning v2): the checked options ({@link
 * dev.graft.method.prefix.spi.PrefixTuningConfig}) and the method instance ({@link
 * dev.graft.method.prefix.spi.PrefixTuning}), which saves PEFT's {@code PREFIX_TUNING} layout. The
 * prefix-tuning bundle exports it.
 *
 * <p>1.0.0: first version.
 */
@Export
@Version("1.0.0")
package dev.graft.method.prefix.spi;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
