package dev.graft.backend.cpu;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.graft.api.backend.Availability;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.backend.cpu.ort.OrtProgramSession;
import dev.graft.graph.DType;
import java.lang.annotation.Annotation;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** The CPU compute backend: ONNX Runtime's CPU execution provider, fp32. */
@Component(
    service = ComputeBackend.class,
    property = ComputeBackend.NAME + "=cpu",
    configurationPid = CpuBackend.PID)
@Designate(ocd = CpuBackend.Config.class)
public final class CpuBackend implements ComputeBackend {
  /** ConfigAdmin PID of this backend's settings. */
  public static final String PID = "dev.graft.backend.cpu";

  /** Settings, through ConfigAdmin. */
  @ObjectClassDefinition(
      name = "Graft CPU backend",
      description = "ONNX Runtime CPU execution provider settings.")
  public @interface Config {
    @AttributeDefinition(description = "Intra-op threads; 0 means one per available core.")
    int threads() default 0;
  }

  /**
   * Settings with {@code threads} intra-op threads, for a host without ConfigAdmin to pass to
   * {@link #configure}.
   */
  public static Config config(int threads) {
    return new Config() {
      @Override
      public int threads() {
        return threads;
      }

      @Override
      public Class<? extends Annotation> annotationType() {
        return Config.class;
      }
    };
  }

  private volatile int threads;
  private volatile String version = "";
  private volatile Availability availability =
      Availability.unavailable("The CPU backend has not started.");

  @Activate
  @Modified
  public void configure(Config config) {
    if (config.threads() < 0) {
      throw new IllegalArgumentException(
          "CPU threads must be 0 (one per core) or more, not " + config.threads() + ".");
    }
    threads = config.threads() == 0 ? Runtime.getRuntime().availableProcessors() : config.threads();
    availability = probe();
  }

  /** Loads ONNX Runtime and opens CPU session options with the configured threads. */
  private Availability probe() {
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      options.setIntraOpNumThreads(threads);
      version = env.getVersion();
      return Availability.ok();
    } catch (OrtException | LinkageError e) {
      return Availability.unavailable(
          "ONNX Runtime could not start on this machine ("
              + e
              + "); check that it is linux-x64 with glibc.");
    }
  }

  @Override
  public String name() {
    return "cpu";
  }

  @Override
  public String device() {
    return "CPU, "
        + threads
        + (threads == 1 ? " thread" : " threads")
        + (version.isEmpty() ? "" : " (ONNX Runtime " + version + ")");
  }

  @Override
  public Availability availability() {
    return availability;
  }

  @Override
  public Session open(Program program) {
    return open(program, options -> {});
  }

  /**
   * As {@link #open(Program)}, with {@code extra} session options set after this backend's own
   * (ONNX Runtime's profiler, say).
   */
  public Session open(Program program, OrtProgramSession.Provider extra) {
    Availability a = availability;
    if (!a.available()) {
      throw new IllegalStateException("The cpu backend is unavailable: " + a.reason());
    }
    if (program.dtypes().contains(DType.BFLOAT16)) {
      throw new IllegalArgumentException(
          "The cpu backend cannot run BFLOAT16: ONNX Runtime has no bfloat16 CPU kernels. Use FLOAT32, or the cuda"
              + " backend.");
    }
    return OrtProgramSession.open(
        "cpu",
        program,
        options -> {
          options.setIntraOpNumThreads(threads);
          // Do not burn idle cores between runs on a shared machine.
          options.addConfigEntry("session.intra_op.allow_spinning", "0");
          extra.configure(options);
        });
  }

  @Override
  public int openSessions() {
    return OrtProgramSession.openSessions("cpu");
  }
}
