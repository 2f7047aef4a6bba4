/** Training jobs: submitting, following, cancelling and resuming them. */
@Export
@Version("1.1.0")
package dev.graft.api.train;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
