/**
 * Compute backends: bundles that run lowered step graphs on one device (CPU, CUDA). A backend
 * registers a {@link dev.graft.api.backend.ComputeBackend} service with the {@value
 * dev.graft.api.backend.ComputeBackend#NAME} property, also when its device is unavailable, so that
 * users see why.
 */
@Export
@Version("1.2.0")
package dev.graft.api.backend;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
