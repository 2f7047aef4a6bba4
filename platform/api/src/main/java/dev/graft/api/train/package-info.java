/**
 * Training jobs: submitting, following, cancelling and resuming them.
 *
 * <p>1.2: {@code Job.activity}, the job's loading and validation progress; {@code Job.notes}.
 */
@Export
@Version("1.2.0")
package dev.graft.api.train;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
