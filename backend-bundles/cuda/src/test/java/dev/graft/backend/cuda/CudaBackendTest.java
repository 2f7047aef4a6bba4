package dev.graft.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.annotation.Annotation;
import org.junit.jupiter.api.Test;

class CudaBackendTest {
  static CudaBackend.Config config(int device, int stepsPerRun) {
    return new CudaBackend.Config() {
      @Override
      public int device() {
        return device;
      }

      @Override
      public int stepsPerRun() {
        return stepsPerRun;
      }

      @Override
      public Class<? extends Annotation> annotationType() {
        return CudaBackend.Config.class;
      }
    };
  }

  @Test
  void stepsPerRunComesFromConfigurationAndMustBePositive() {
    CudaBackend b = new CudaBackend();
    b.configure(config(0, 8));
    assertEquals(8, b.stepsPerRun());
    assertEquals("CUDA device 0, 8 optimizer steps per run", b.device());
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> b.configure(config(0, 0)));
    assertEquals("CUDA stepsPerRun must be 1 or more, not 0.", e.getMessage());
  }
}
