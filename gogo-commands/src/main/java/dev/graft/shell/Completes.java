package dev.graft.shell;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/** What Tab offers for a command's argument or option value in the interactive shell. */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.PARAMETER)
@interface Completes {
  Kind value();

  /** The kinds of value, each listed from the running services or the file system. */
  enum Kind {
    /** an installed fine-tuning method */
    METHOD,
    /** a job id of the Graft home */
    JOB,
    /** a compute backend */
    BACKEND,
    /** a graft command name */
    COMMAND,
    /** a job setting {@code key=value}: job keys and method options, and their values */
    SETTING,
    /** a folder */
    DIRECTORY,
    /** a file (or a folder on the way to one) */
    FILE
  }
}
