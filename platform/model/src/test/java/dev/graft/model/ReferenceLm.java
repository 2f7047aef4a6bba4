package dev.graft.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Plain-loop float64 forward passes of the supported architectures, written from the Hugging Face
 * modeling code ({@code modeling_llama}, {@code modeling_qwen2}, {@code modeling_gpt2}) and
 * independent of {@link ModelGraph}: one causal sequence at a time, no masks, no batching.
 */
final class ReferenceLm {

  private final ModelConfig c;
  private final Map<String, double[]> w = new HashMap<>();

  ReferenceLm(Path folder) throws IOException {
    c = ModelConfig.read(folder);
    try (SafetensorsReader r = SafetensorsReader.open(folder)) {
      for (String name : r.names()) {
        float[] f = r.floats(name);
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
          d[i] = f[i];
        }
        w.put(name, d);
      }
    }
  }

  /** The logits [T][V] of one sequence with the given position ids. */
  double[][] logits(int[] ids, int[] positions) {
    return c.architecture() == Architecture.GPT2 ? gpt2(ids, positions) : llama(ids, positions);
  }

  private double[][] llama(int[] ids, int[] pos) {
    int d = c.hiddenSize();
    int nh = c.numAttentionHeads();
    int kvh = c.numKeyValueHeads();
    double[] embed = w.get("model.embed_tokens.weight");
    double[][] h = new double[ids.length][d];
    for (int t = 0; t < ids.length; t++) {
      System.arraycopy(embed, ids[t] * d, h[t], 0, d);
    }
    double[] inv = invFreq();
    for (int l = 0; l < c.numHiddenLayers(); l++) {
      String p = "model.layers." + l + ".";
      double[][] x = rmsNorm(h, w.get(p + "input_layernorm.weight"));
      double[][] q = linear(x, p + "self_attn.q_proj", c.qkvBias());
      double[][] k = linear(x, p + "self_attn.k_proj", c.qkvBias());
      double[][] v = linear(x, p + "self_attn.v_proj", c.qkvBias());
      rotate(q, nh, pos, inv);
      rotate(k, kvh, pos, inv);
      add(h, linear(attend(q, k, v, nh, kvh), p + "self_attn.o_proj", c.outputBias()));
      x = rmsNorm(h, w.get(p + "post_attention_layernorm.weight"));
      double[][] gate = linear(x, p + "mlp.gate_proj", c.mlpBias());
      double[][] up = linear(x, p + "mlp.up_proj", c.mlpBias());
      for (int t = 0; t < gate.length; t++) {
        for (int j = 0; j < gate[t].length; j++) {
          double g = gate[t][j];
          gate[t][j] = g / (1 + Math.exp(-g)) * up[t][j]; // silu(gate) * up
        }
      }
      add(h, linear(gate, p + "mlp.down_proj", c.mlpBias()));
    }
    double[][] x = rmsNorm(h, w.get("model.norm.weight"));
    String head = c.tieWordEmbeddings() ? "model.embed_tokens" : "lm_head";
    return linear(x, head, false);
  }

  private double[][] gpt2(int[] ids, int[] pos) {
    int d = c.hiddenSize();
    int nh = c.numAttentionHeads();
    double[] wte = w.get("transformer.wte.weight");
    double[] wpe = w.get("transformer.wpe.weight");
    double[][] h = new double[ids.length][d];
    for (int t = 0; t < ids.length; t++) {
      for (int i = 0; i < d; i++) {
        h[t][i] = wte[ids[t] * d + i] + wpe[pos[t] * d + i];
      }
    }
    for (int l = 0; l < c.numHiddenLayers(); l++) {
      String p = "transformer.h." + l + ".";
      double[][] qkv = conv1d(layerNorm(h, p + "ln_1"), p + "attn.c_attn");
      double[][] q = new double[ids.length][d];
      double[][] k = new double[ids.length][d];
      double[][] v = new double[ids.length][d];
      for (int t = 0; t < ids.length; t++) {
        System.arraycopy(qkv[t], 0, q[t], 0, d);
        System.arraycopy(qkv[t], d, k[t], 0, d);
        System.arraycopy(qkv[t], 2 * d, v[t], 0, d);
      }
      add(h, conv1d(attend(q, k, v, nh, nh), p + "attn.c_proj"));
      double[][] f = conv1d(layerNorm(h, p + "ln_2"), p + "mlp.c_fc");
      for (double[] row : f) {
        for (int j = 0; j < row.length; j++) {
          double x = row[j];
          row[j] = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
        }
      }
      add(h, conv1d(f, p + "mlp.c_proj"));
    }
    return linear(layerNorm(h, "transformer.ln_f"), "transformer.wte", false);
  }

  /** HF {@code _compute_default_rope_parameters} and {@code _compute_llama3_parameters}. */
  private double[] invFreq() {
    int dim = c.headDim();
    double[] inv = new double[dim / 2];
    for (int k = 0; k < inv.length; k++) {
      inv[k] = 1.0 / Math.pow(c.ropeTheta(), (2.0 * k) / dim);
    }
    ModelConfig.RopeScaling s = c.ropeScaling();
    if (s != null) {
      double lowWavelen = s.originalMaxPositionEmbeddings() / s.lowFreqFactor();
      double highWavelen = s.originalMaxPositionEmbeddings() / s.highFreqFactor();
      for (int k = 0; k < inv.length; k++) {
        double wavelen = 2 * Math.PI / inv[k];
        double llama = wavelen > lowWavelen ? inv[k] / s.factor() : inv[k];
        double smooth =
            (s.originalMaxPositionEmbeddings() / wavelen - s.lowFreqFactor())
                / (s.highFreqFactor() - s.lowFreqFactor());
        double smoothed = (1 - smooth) * llama / s.factor() + smooth * llama;
        boolean medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
        inv[k] = medium ? smoothed : llama;
      }
    }
    return inv;
  }

  /** {@code x * cos + rotate_half(x) * sin} per head, {@code cos = cat(freqs, freqs).cos()}. */
  private void rotate(double[][] x, int heads, int[] pos, double[] inv) {
    int hs = c.headDim();
    int half = hs / 2;
    for (int t = 0; t < x.length; t++) {
      for (int hd = 0; hd < heads; hd++) {
        double[] y = new double[hs];
        for (int j = 0; j < hs; j++) {
          double angle = pos[t] * inv[j % half];
          double rotated = j < half ? -x[t][hd * hs + j + half] : x[t][hd * hs + j - half];
          y[j] = x[t][hd * hs + j] * Math.cos(angle) + rotated * Math.sin(angle);
        }
        System.arraycopy(y, 0, x[t], hd * hs, hs);
      }
    }
  }

  /** Causal attention; query head h reads key-value head h / (nh / kvh). */
  private double[][] attend(double[][] q, double[][] k, double[][] v, int nh, int kvh) {
    int hs = c.headDim();
    double[][] out = new double[q.length][nh * hs];
    for (int hd = 0; hd < nh; hd++) {
      int kv = hd / (nh / kvh);
      for (int t = 0; t < q.length; t++) {
        double[] s = new double[t + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int u = 0; u <= t; u++) {
          for (int j = 0; j < hs; j++) {
            s[u] += q[t][hd * hs + j] * k[u][kv * hs + j];
          }
          s[u] /= Math.sqrt(hs);
          max = Math.max(max, s[u]);
        }
        double sum = 0;
        for (int u = 0; u <= t; u++) {
          s[u] = Math.exp(s[u] - max);
          sum += s[u];
        }
        for (int u = 0; u <= t; u++) {
          for (int j = 0; j < hs; j++) {
            out[t][hd * hs + j] += s[u] / sum * v[u][kv * hs + j];
          }
        }
      }
    }
    return out;
  }

  /** torch Linear: {@code y[o] = Σ x[i] W[o][i] + b[o]}, W (out, in). */
  private double[][] linear(double[][] x, String module, boolean bias) {
    double[] wt = w.get(module + ".weight");
    int in = x[0].length;
    int out = wt.length / in;
    double[] b = bias ? w.get(module + ".bias") : new double[out];
    double[][] y = new double[x.length][out];
    for (int t = 0; t < x.length; t++) {
      for (int o = 0; o < out; o++) {
        double s = b[o];
        for (int i = 0; i < in; i++) {
          s += x[t][i] * wt[o * in + i];
        }
        y[t][o] = s;
      }
    }
    return y;
  }

  /** GPT-2 Conv1D: {@code y[o] = Σ x[i] W[i][o] + b[o]}, W (in, out). */
  private double[][] conv1d(double[][] x, String module) {
    double[] wt = w.get(module + ".weight");
    double[] b = w.get(module + ".bias");
    int in = x[0].length;
    int out = b.length;
    double[][] y = new double[x.length][out];
    for (int t = 0; t < x.length; t++) {
      for (int o = 0; o < out; o++) {
        double s = b[o];
        for (int i = 0; i < in; i++) {
          s += x[t][i] * wt[i * out + o];
        }
        y[t][o] = s;
      }
    }
    return y;
  }

  private double[][] rmsNorm(double[][] x, double[] gamma) {
    double[][] y = new double[x.length][];
    for (int t = 0; t < x.length; t++) {
      double ms = 0;
      for (double v : x[t]) {
        ms += v * v / x[t].length;
      }
      y[t] = new double[x[t].length];
      for (int i = 0; i < x[t].length; i++) {
        y[t][i] = x[t][i] / Math.sqrt(ms + c.normEps()) * gamma[i];
      }
    }
    return y;
  }

  private double[][] layerNorm(double[][] x, String module) {
    double[] gamma = w.get(module + ".weight");
    double[] beta = w.get(module + ".bias");
    double[][] y = new double[x.length][];
    for (int t = 0; t < x.length; t++) {
      int n = x[t].length;
      double mean = 0;
      for (double v : x[t]) {
        mean += v / n;
      }
      double var = 0;
      for (double v : x[t]) {
        var += (v - mean) * (v - mean) / n;
      }
      y[t] = new double[n];
      for (int i = 0; i < n; i++) {
        y[t][i] = (x[t][i] - mean) / Math.sqrt(var + c.normEps()) * gamma[i] + beta[i];
      }
    }
    return y;
  }

  private static void add(double[][] h, double[][] x) {
    for (int t = 0; t < h.length; t++) {
      for (int i = 0; i < h[t].length; i++) {
        h[t][i] += x[t][i];
      }
    }
  }
}
