/**
 * The fine-tuning method SPI. A method bundle registers one {@link dev.graft.api.FineTuningMethod}
 * service with a unique lower-case {@value dev.graft.api.FineTuningMethod#NAME} property; clients
 * find methods through the {@link dev.graft.api.MethodRegistry}, never by looking up method
 * services themselves.
 */
@Export
@Version("1.2.0")
package dev.graft.api;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
