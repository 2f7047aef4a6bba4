package dev.graft.method.pissa;

import java.util.Random;

/**
 * The top-r singular triplets of a dense matrix W (out, in) = U·diag(S)·Vᵀ, in double: exactly (the
 * symmetric eigenproblem of the smaller Gram matrix, W·Wᵀ or Wᵀ·W, by cyclic Jacobi rotations to
 * convergence), or by Halko et al.'s randomized subspace iteration as {@code torch.svd_lowrank(W,
 * q=r, niter)} computes it (a Gaussian sketch W·Ω, {@code niter} rounds of W·Wᵀ with
 * re-orthonormalisation, then the exact SVD of the small projected matrix).
 *
 * @param u (out, r) row-major, left singular vectors
 * @param s (r), descending
 * @param v (in, r) row-major, right singular vectors
 */
record Svd(double[] u, double[] s, double[] v) {
  /** The exact top-r triplets of {@code w} (out, in), row-major. */
  static Svd exact(float[] w, int out, int in, int r) {
    return top(toDouble(w), out, in, r);
  }

  /**
   * The randomized top-r triplets of {@code w} (out, in): {@code niter} subspace iterations from a
   * Gaussian sketch drawn from {@code seed}.
   */
  static Svd randomized(float[] w, int out, int in, int r, int niter, long seed) {
    double[] a = toDouble(w);
    Random random = new Random(seed);
    double[] omega = new double[in * r]; // (in, r)
    for (int i = 0; i < omega.length; i++) {
      omega[i] = random.nextGaussian();
    }
    double[] q = orthonormalise(multiply(a, out, in, omega, r, false), out, r); // (out, r)
    for (int k = 0; k < niter; k++) {
      double[] z = orthonormalise(multiply(a, out, in, q, r, true), in, r); // (in, r) = Aᵀ·Q
      q = orthonormalise(multiply(a, out, in, z, r, false), out, r); // (out, r) = A·Z
    }
    // B = Qᵀ·A (r, in); B = Ub·S·Vᵀ; U = Q·Ub.
    double[] b = new double[r * in];
    for (int o = 0; o < out; o++) {
      for (int k = 0; k < r; k++) {
        double qk = q[o * r + k];
        for (int i = 0; i < in; i++) {
          b[k * in + i] += qk * a[o * in + i];
        }
      }
    }
    Svd small = top(b, r, in, r);
    double[] u = new double[out * r];
    for (int o = 0; o < out; o++) {
      for (int j = 0; j < r; j++) {
        double sum = 0;
        for (int k = 0; k < r; k++) {
          sum += q[o * r + k] * small.u[k * r + j];
        }
        u[o * r + j] = sum;
      }
    }
    return new Svd(u, small.s, small.v);
  }

  /** Top-r triplets through the eigenvectors of the smaller Gram matrix. */
  private static Svd top(double[] a, int out, int in, int r) {
    boolean left = out <= in; // Gram W·Wᵀ (out, out), else Wᵀ·W (in, in)
    int n = left ? out : in;
    double[] gram = new double[n * n];
    for (int p = 0; p < n; p++) {
      for (int q = p; q < n; q++) {
        double sum = 0;
        if (left) {
          for (int i = 0; i < in; i++) {
            sum += a[p * in + i] * a[q * in + i];
          }
        } else {
          for (int o = 0; o < out; o++) {
            sum += a[o * in + p] * a[o * in + q];
          }
        }
        gram[p * n + q] = sum;
        gram[q * n + p] = sum;
      }
    }
    double[] vectors = jacobi(gram, n); // columns: eigenvectors; gram's diagonal: eigenvalues
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    java.util.Arrays.sort(order, (x, y) -> Double.compare(gram[y * n + y], gram[x * n + x]));
    double[] s = new double[r];
    double[] u = new double[out * r];
    double[] v = new double[in * r];
    for (int j = 0; j < r; j++) {
      int c = order[j];
      s[j] = Math.sqrt(Math.max(gram[c * n + c], 0));
      // The other side's vector is W·v / s (or Wᵀ·u / s).
      if (left) {
        for (int o = 0; o < out; o++) {
          u[o * r + j] = vectors[o * n + c];
        }
        for (int i = 0; i < in; i++) {
          double sum = 0;
          for (int o = 0; o < out; o++) {
            sum += a[o * in + i] * u[o * r + j];
          }
          v[i * r + j] = s[j] == 0 ? 0 : sum / s[j];
        }
      } else {
        for (int i = 0; i < in; i++) {
          v[i * r + j] = vectors[i * n + c];
        }
        for (int o = 0; o < out; o++) {
          double sum = 0;
          for (int i = 0; i < in; i++) {
            sum += a[o * in + i] * v[i * r + j];
          }
          u[o * r + j] = s[j] == 0 ? 0 : sum / s[j];
        }
      }
    }
    return new Svd(u, s, v);
  }

  /**
   * Diagonalises the symmetric {@code m} (n, n) in place by cyclic Jacobi rotations until the
   * off-diagonal part is negligible; returns the eigenvectors as columns of an (n, n) matrix.
   */
  private static double[] jacobi(double[] m, int n) {
    double[] vectors = new double[n * n];
    for (int i = 0; i < n; i++) {
      vectors[i * n + i] = 1;
    }
    for (int sweep = 0; sweep < 60; sweep++) {
      double off = 0;
      double total = 0;
      for (int p = 0; p < n; p++) {
        for (int q = 0; q < n; q++) {
          total += m[p * n + q] * m[p * n + q];
          if (p != q) {
            off += m[p * n + q] * m[p * n + q];
          }
        }
      }
      if (off <= 1e-28 * total) {
        break;
      }
      for (int p = 0; p < n - 1; p++) {
        for (int q = p + 1; q < n; q++) {
          double apq = m[p * n + q];
          if (apq == 0) {
            continue;
          }
          double theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
          double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
          if (theta == 0) {
            t = 1;
          }
          double c = 1 / Math.sqrt(t * t + 1);
          double sn = t * c;
          for (int k = 0; k < n; k++) { // columns p, q
            double kp = m[k * n + p];
            double kq = m[k * n + q];
            m[k * n + p] = c * kp - sn * kq;
            m[k * n + q] = sn * kp + c * kq;
          }
          for (int k = 0; k < n; k++) { // rows p, q
            double pk = m[p * n + k];
            double qk = m[q * n + k];
            m[p * n + k] = c * pk - sn * qk;
            m[q * n + k] = sn * pk + c * qk;
          }
          for (int k = 0; k < n; k++) {
            double kp = vectors[k * n + p];
            double kq = vectors[k * n + q];
            vectors[k * n + p] = c * kp - sn * kq;
            vectors[k * n + q] = sn * kp + c * kq;
          }
        }
      }
    }
    return vectors;
  }

  /** A·X (out, r) for X (in, r), or Aᵀ·X (in, r) for X (out, r), with A (out, in). */
  private static double[] multiply(double[] a, int out, int in, double[] x, int r, boolean t) {
    double[] y = new double[(t ? in : out) * r];
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double aoi = a[o * in + i];
        for (int k = 0; k < r; k++) {
          if (t) {
            y[i * r + k] += aoi * x[o * r + k];
          } else {
            y[o * r + k] += aoi * x[i * r + k];
          }
        }
      }
    }
    return y;
  }

  /** Modified Gram-Schmidt on the r columns of x (rows, r), in place. */
  private static double[] orthonormalise(double[] x, int rows, int r) {
    for (int j = 0; j < r; j++) {
      for (int k = 0; k < j; k++) {
        double dot = 0;
        for (int i = 0; i < rows; i++) {
          dot += x[i * r + j] * x[i * r + k];
        }
        for (int i = 0; i < rows; i++) {
          x[i * r + j] -= dot * x[i * r + k];
        }
      }
      double norm = 0;
      for (int i = 0; i < rows; i++) {
        norm += x[i * r + j] * x[i * r + j];
      }
      norm = Math.sqrt(norm);
      for (int i = 0; i < rows; i++) {
        x[i * r + j] = norm == 0 ? 0 : x[i * r + j] / norm;
      }
    }
    return x;
  }

  private static double[] toDouble(float[] w) {
    double[] d = new double[w.length];
    for (int i = 0; i < w.length; i++) {
      d[i] = w[i];
    }
    return d;
  }
}
