package dev.graft.train.service;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts a job in a background process of its own: the launcher ({@code ./graft}) running {@code
 * graft:resume <id>} in a new session (so that a Ctrl-C or a closed terminal does not reach it),
 * its output appended to {@code job.log} in the job's folder. The process outlives the one that
 * starts it.
 *
 * @param launcher the launcher script, as the framework property {@code graft.launcher} names it
 * @param home the Graft home, passed on as {@code GRAFT_HOME}
 * @param deploy the watched bundle folder, passed on as {@code GRAFT_DEPLOY}; null to inherit
 */
record Background(String launcher, Path home, String deploy) {
  /** The log file in a background job's folder. */
  static final String LOG = "job.log";

  private static final List<String> SETSID = List.of("/usr/bin/setsid", "/bin/setsid");

  /** Starts the process that runs job {@code id}, whose folder is {@code dir}. */
  Process start(String id, Path dir) {
    List<String> command = new ArrayList<>();
    SETSID.stream().filter(s -> Files.isExecutable(Path.of(s))).findFirst().ifPresent(command::add);
    command.addAll(List.of(launcher, "graft:resume", id));
    ProcessBuilder builder =
        new ProcessBuilder(command)
            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve(LOG).toFile()));
    builder.environment().put("GRAFT_HOME", home.toString());
    if (deploy != null) {
      builder.environment().put("GRAFT_DEPLOY", deploy);
    }
    try {
      return builder.start();
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not start a background process for job " + id + ": " + e.getMessage(), e);
    }
  }
}
