package dev.graft.method.pissa;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The top-r SVD, exact and randomized, on a matrix made from known singular triplets. */
class SvdTest {
  private static final int OUT = 7;
  private static final int IN = 5;
  private static final double[] SIGMA = {9, 5, 3, 0.5, 0.1};

  /** Orthonormal columns (rows, n), by Gram-Schmidt on Gaussian columns. */
  private static double[] orthonormal(int rows, int n, Random random) {
    double[] q = new double[rows * n];
    for (int j = 0; j < n; j++) {
      for (int i = 0; i < rows; i++) {
        q[i * n + j] = random.nextGaussian();
      }
      for (int k = 0; k < j; k++) {
        double dot = 0;
        for (int i = 0; i < rows; i++) {
          dot += q[i * n + j] * q[i * n + k];
        }
        for (int i = 0; i < rows; i++) {
          q[i * n + j] -= dot * q[i * n + k];
        }
      }
      double norm = 0;
      for (int i = 0; i < rows; i++) {
        norm += q[i * n + j] * q[i * n + j];
      }
      for (int i = 0; i < rows; i++) {
        q[i * n + j] /= Math.sqrt(norm);
      }
    }
    return q;
  }

  private static final Random RANDOM = new Random(3);
  private static final double[] U = orthonormal(OUT, IN, RANDOM);
  private static final double[] V = orthonormal(IN, IN, RANDOM);

  /** W = U·diag(σ)·Vᵀ (OUT, IN), as float32. */
  private static float[] w() {
    float[] w = new float[OUT * IN];
    for (int o = 0; o < OUT; o++) {
      for (int i = 0; i < IN; i++) {
        double sum = 0;
        for (int k = 0; k < IN; k++) {
          sum += U[o * IN + k] * SIGMA[k] * V[i * IN + k];
        }
        w[o * IN + i] = (float) sum;
      }
    }
    return w;
  }

  /** The singular values, and each vector up to its sign, are the ones W was made from. */
  private static void assertTop(Svd svd, int r, double tolerance) {
    for (int k = 0; k < r; k++) {
      assertEquals(SIGMA[k], svd.s()[k], tolerance * SIGMA[0], "σ" + k);
      double du = 0;
      for (int o = 0; o < OUT; o++) {
        du += svd.u()[o * r + k] * U[o * IN + k];
      }
      double dv = 0;
      for (int i = 0; i < IN; i++) {
        dv += svd.v()[i * r + k] * V[i * IN + k];
      }
      assertEquals(1, Math.abs(du), tolerance, "u" + k);
      assertEquals(1, du * dv, tolerance, "u" + k + " and v" + k + " carry the same sign");
    }
  }

  @Test
  void theExactSvdFindsTheTopSingularTriplets() {
    assertTop(Svd.exact(w(), OUT, IN, 3), 3, 1e-6);
  }

  @Test
  void theExactSvdOfTheTransposedShapeFindsThemToo() {
    float[] w = w();
    float[] t = new float[w.length]; // (IN, OUT): the Gram matrix is on the other side
    for (int o = 0; o < OUT; o++) {
      for (int i = 0; i < IN; i++) {
        t[i * OUT + o] = w[o * IN + i];
      }
    }
    Svd svd = Svd.exact(t, IN, OUT, 2);
    for (int k = 0; k < 2; k++) {
      assertEquals(SIGMA[k], svd.s()[k], 1e-6 * SIGMA[0]);
    }
  }

  @Test
  void sixteenRandomizedIterationsFindTheTopTripletsWhereTheSpectrumHasAGap() {
    assertTop(Svd.randomized(w(), OUT, IN, 2, 16, 17), 2, 1e-5);
  }

  @Test
  void theRandomizedSvdIsTheSameForTheSameSeed() {
    Svd a = Svd.randomized(w(), OUT, IN, 2, 1, 5);
    Svd b = Svd.randomized(w(), OUT, IN, 2, 1, 5);
    assertEquals(java.util.Arrays.toString(a.u()), java.util.Arrays.toString(b.u()));
  }
}
