/**
 * Progress of long work outside training steps — loading weights, starting a compute session,
 * evaluating, merging, exporting, quantising — for a caller to show it (the shell's progress line)
 * or record it.
 *
 * <p>The caller runs the work under {@link dev.graft.api.progress.Progress#reportingTo}; whatever
 * the work calls on that thread, in the platform or in any bundle, opens a {@link
 * dev.graft.api.progress.Progress.Task} and advances it. Work without a listener reports to nobody
 * at no cost, so code reports unconditionally.
 */
@Export
@Version("1.0.0")
package dev.graft.api.progress;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
