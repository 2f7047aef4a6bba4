package dev.graft.method.adalora;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The regulariser in the graph against a hand computation of PEFT's. */
class OrthogonalityTest {
  @Test
  void theRegulariserIsTheMeanFrobeniusDistanceOfAAtAndBtBFromTheIdentity() {
    Graph g = new Graph();
    Random random = new Random(7);
    Map<String, NdArray> feeds = new HashMap<>();
    Map<String, double[][]> values = new HashMap<>();
    Tensor[][] pairs = new Tensor[2][];
    for (int layer = 0; layer < 2; layer++) {
      Tensor a = g.parameter("a" + layer, DType.FLOAT64, Shape.of(3, 5), true); // (r, in)
      Tensor b = g.parameter("b" + layer, DType.FLOAT64, Shape.of(4, 3), true); // (out, r)
      pairs[layer] = new Tensor[] {a, b};
      for (Tensor t : pairs[layer]) {
        long[] shape = t.shape().sizes();
        double[][] m = new double[(int) shape[0]][(int) shape[1]];
        double[] flat = new double[m.length * m[0].length];
        for (int i = 0; i < flat.length; i++) {
          flat[i] = random.nextGaussian();
          m[i / m[0].length][i % m[0].length] = flat[i];
        }
        values.put(t.name(), m);
        feeds.put(t.name(), NdArray.of(DType.FLOAT64, shape, flat));
      }
    }
    g.output("reg", AdaLora.orthogonality(g, List.of(pairs)));
    double reg = Interpreter.run(g, feeds).get("reg").item();

    double expected = 0;
    for (int layer = 0; layer < 2; layer++) {
      double[][] a = values.get("a" + layer);
      double[][] b = values.get("b" + layer);
      expected += distanceFromIdentity(a, true) + distanceFromIdentity(b, false);
    }
    assertEquals(expected / 4, reg, 1e-12);
  }

  /** ‖M·Mᵀ − I‖_F (rows) or ‖Mᵀ·M − I‖_F (columns), by loops. */
  private static double distanceFromIdentity(double[][] m, boolean rows) {
    int r = rows ? m.length : m[0].length;
    int n = rows ? m[0].length : m.length;
    double sum = 0;
    for (int i = 0; i < r; i++) {
      for (int j = 0; j < r; j++) {
        double dot = 0;
        for (int k = 0; k < n; k++) {
          dot += rows ? m[i][k] * m[j][k] : m[k][i] * m[k][j];
        }
        double d = dot - (i == j ? 1 : 0);
        sum += d * d;
      }
    }
    return Math.sqrt(sum);
  }
}
