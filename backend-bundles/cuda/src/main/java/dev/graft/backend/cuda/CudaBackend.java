package dev.graft.backend.cuda;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import dev.graft.api.backend.Availability;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.backend.cpu.ort.OrtProgramSession;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * The CUDA compute backend. It offers itself only after a real probe: {@code addCUDA} on fresh
 * session options must succeed. Otherwise it stays registered as unavailable, with the reason, so
 * that {@code graft:backends} can say what is missing.
 *
 * <p>ONNX Runtime's Java API has no IOBinding, so every run copies its feeds to the GPU and its
 * fetched outputs back. The {@value #STEPS_PER_RUN} setting, which DS also publishes as a service
 * property of that name, tells trainers how many optimizer steps to put in one run: they lower the
 * step with {@code TrainingStep.toOnnxLoop()} and feed that many batches stacked, so the carried
 * state (trainables, optimizer moments) stays on the GPU between those steps.
 */
@Component(
    service = ComputeBackend.class,
    property = ComputeBackend.NAME + "=cuda",
    configurationPid = CudaBackend.PID)
@Designate(ocd = CudaBackend.Config.class)
public final class CudaBackend implements ComputeBackend {
  /** ConfigAdmin PID of this backend's settings. */
  public static final String PID = "dev.graft.backend.cuda";

  /** Setting and service property: optimizer steps per session run (an Integer, at least 1). */
  public static final String STEPS_PER_RUN = "stepsPerRun";

  private static final String FIX =
      " A CUDA run needs Graft built with 'mvn -Port-gpu', an NVIDIA GPU, and CUDA 12 with cuDNN 9 on the library path.";

  /** Settings, through ConfigAdmin. */
  @ObjectClassDefinition(
      name = "Graft CUDA backend",
      description = "ONNX Runtime CUDA execution provider settings.")
  public @interface Config {
    @AttributeDefinition(description = "CUDA device index.")
    int device() default 0;

    @AttributeDefinition(
        description =
            "Optimizer steps per session run, at least 1. Above 1, trainers run that many steps"
                + " inside one ONNX Loop, so the training state stays on the GPU between them.")
    int stepsPerRun() default 1;
  }

  private volatile int device;
  private volatile int stepsPerRun = 1;
  private volatile Availability availability =
      Availability.unavailable("The CUDA backend has not started.");

  @Activate
  @Modified
  void configure(Config config) {
    if (config.stepsPerRun() < 1) {
      throw new IllegalArgumentException(
          "CUDA " + STEPS_PER_RUN + " must be 1 or more, not " + config.stepsPerRun() + ".");
    }
    device = config.device();
    stepsPerRun = config.stepsPerRun();
    availability = probe();
  }

  /**
   * Optimizer steps per session run that trainers should use (the {@value #STEPS_PER_RUN} setting).
   */
  public int stepsPerRun() {
    return stepsPerRun;
  }

  private Availability probe() {
    try {
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      if (!env.getAvailableProviders().contains(OrtProvider.CUDA)) {
        return Availability.unavailable(
            "This ONNX Runtime build ("
                + env.getVersion()
                + ") has no CUDA execution provider."
                + FIX);
      }
      try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
        options.addCUDA(device);
      }
      return Availability.ok();
    } catch (OrtException e) {
      return Availability.unavailable(
          "ONNX Runtime could not open CUDA device " + device + ": " + e.getMessage() + "." + FIX);
    } catch (LinkageError e) {
      return Availability.unavailable(
          "ONNX Runtime could not start on this machine: " + e + "." + FIX);
    }
  }

  @Override
  public String name() {
    return "cuda";
  }

  @Override
  public String device() {
    return "CUDA device "
        + device
        + (stepsPerRun == 1 ? "" : ", " + stepsPerRun + " optimizer steps per run");
  }

  @Override
  public Availability availability() {
    return availability;
  }

  @Override
  public Session open(Program program) {
    Availability a = availability;
    if (!a.available()) {
      throw new IllegalStateException("The cuda backend is unavailable: " + a.reason());
    }
    return OrtProgramSession.open(
        "cuda",
        program,
        options -> {
          options.addCUDA(device);
          // Every node must run on the GPU: a silent CPU fallback would hide a missing kernel
          // behind copies.
          options.addConfigEntry("session.disable_cpu_ep_fallback", "1");
        });
  }

  @Override
  public int openSessions() {
    return OrtProgramSession.openSessions("cuda");
  }
}
