package dev.graft.backend.cuda;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import dev.graft.api.backend.Availability;
import dev.graft.api.backend.ComputeBackend;
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
 */
@Component(
    service = ComputeBackend.class,
    property = ComputeBackend.NAME + "=cuda",
    configurationPid = CudaBackend.PID)
@Designate(ocd = CudaBackend.Config.class)
public final class CudaBackend implements ComputeBackend {
  /** ConfigAdmin PID of this backend's settings. */
  public static final String PID = "dev.graft.backend.cuda";

  private static final String FIX =
      " A CUDA run needs Graft built with 'mvn -Port-gpu', an NVIDIA GPU, and CUDA 12 with cuDNN 9 on the library path.";

  /** Settings, through ConfigAdmin. */
  @ObjectClassDefinition(
      name = "Graft CUDA backend",
      description = "ONNX Runtime CUDA execution provider settings.")
  public @interface Config {
    @AttributeDefinition(description = "CUDA device index.")
    int device() default 0;
  }

  private volatile int device;
  private volatile Availability availability =
      Availability.unavailable("The CUDA backend has not started.");

  @Activate
  @Modified
  void configure(Config config) {
    device = config.device();
    availability = probe();
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
          "ONNX Runtime could not start on this machine: " + e.getMessage() + "." + FIX);
    }
  }

  @Override
  public String name() {
    return "cuda";
  }

  @Override
  public String device() {
    return "CUDA device " + device;
  }

  @Override
  public Availability availability() {
    return availability;
  }
}
