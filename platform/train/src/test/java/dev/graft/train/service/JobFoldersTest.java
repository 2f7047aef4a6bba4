package dev.graft.train.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.train.JobState;
import dev.graft.train.job.StoredJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobFoldersTest {
  @TempDir Path home;

  @Test
  void twoProcessesCreatingJobsAtOnceGetDifferentIds() {
    JobFolders one = new JobFolders(home.resolve("jobs"));
    JobFolders other = new JobFolders(home.resolve("jobs"));
    JobFolders.Created a = one.create(null, Map.of("model", "a"));
    JobFolders.Created b = other.create(null, Map.of("model", "b"));
    assertNotEquals(a.id(), b.id());
    assertEquals(Map.of("model", "a"), JobFolders.spec(a.dir()));
    assertEquals(Map.of("model", "b"), JobFolders.spec(b.dir()));
  }

  @Test
  void everyProcessListsTheJobsOfTheHomeNewestFirst() {
    JobFolders writer = new JobFolders(home.resolve("jobs"));
    List<String> created =
        List.of(
            writer.create(null, Map.of()).id(),
            writer.create(null, Map.of()).id(),
            writer.create(home.resolve("elsewhere"), Map.of()).id());
    List<String> listed = new JobFolders(home.resolve("jobs")).ids();
    assertEquals(List.of(created.get(2), created.get(1), created.get(0)), listed);
  }

  @Test
  void aJobWithAnOutputDirIsFoundThroughItsHome() {
    Path out = home.resolve("out");
    JobFolders.Created c = new JobFolders(home.resolve("jobs")).create(out, Map.of("seed", "1"));
    assertEquals(out, c.dir());
    assertTrue(Files.isRegularFile(out.resolve(JobFolders.SPEC)));
    assertTrue(new JobFolders(home.resolve("jobs")).find(c.id()).isPresent());
  }

  @Test
  void aJobListedTheMomentItsFolderAppearsIsQueuedNotDead() {
    JobFolders.Created c = new JobFolders(home.resolve("jobs")).create(null, Map.of());
    assertEquals(
        JobState.QUEUED,
        new StoredJob(c.id(), c.dir(), Map.of()).status().state(),
        "the record is there before the specification that makes the folder a job");
  }

  @Test
  void idsOrderByTimeThenByNumber() {
    List<String> ids =
        new java.util.ArrayList<>(
            List.of("20261204-101010-2", "20261204-101010-10", "20261204-101011-1"));
    ids.sort(JobFolders.NEWEST_FIRST);
    assertEquals(List.of("20261204-101011-1", "20261204-101010-10", "20261204-101010-2"), ids);
  }
}
