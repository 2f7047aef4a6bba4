package dev.graft.train.job;

import dev.graft.model.AtomicFiles;
import dev.graft.model.SafetensorsWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The child process of {@link CrashMidWriteTest}: writes version after version of a checkpoint
 * ({@link Checkpoints}, as a job does), an adapter-like folder and a merged-model-like folder
 * ({@link AtomicFiles#replaceFolder}, as {@code AdapterFiles} and {@code Adapters.writeModel} do)
 * and a lone safetensors file ({@link SafetensorsWriter}), every tensor of version k filled with k,
 * and prints k once all of version k is in place. The parent kills it at a random moment.
 */
public final class CrashingWriter {
  /** Floats per tensor: 4 MiB, so that a write takes long enough to be interrupted. */
  static final int SIZE = 1 << 20;

  private CrashingWriter() {}

  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args[0]);
    long first = Long.parseLong(args[1]);
    Checkpoints checkpoints = new Checkpoints(dir);
    for (long k = first; ; k++) {
      long version = k;
      checkpoints.save(version, d -> tensors(d.resolve("state.safetensors"), version));
      for (String folder : new String[] {"adapter", "model"}) {
        AtomicFiles.replaceFolder(
            dir.resolve(folder),
            t -> {
              tensors(t.resolve("weights.safetensors"), version);
              Files.writeString(t.resolve("config.json"), "{\"version\": " + version + "}");
            });
      }
      tensors(dir.resolve("quantised.safetensors"), version);
      System.out.println(version);
      System.out.flush();
    }
  }

  /** Two tensors filled with {@code version}, and the version in the metadata. */
  static void tensors(Path file, long version) {
    float[] values = new float[SIZE];
    Arrays.fill(values, version);
    try {
      new SafetensorsWriter()
          .metadata("version", Long.toString(version))
          .add("a", new long[] {SIZE}, values)
          .add("b", new long[] {SIZE}, values)
          .write(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
