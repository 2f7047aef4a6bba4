package dev.graft.method.moelora;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.graph.DType;
import dev.graft.graph.GraphOps;
import dev.graft.graph.NdArray;
import dev.graft.graph.Tensor;
import dev.graft.method.lora.spi.LowRank;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * MoELoRA (Liu et al. 2023): N LoRA experts per adapted layer, each of rank r/N, mixed by a gate
 * that depends on the sample's task only:
 *
 * <pre>
 * g = softmax(W_g · E[task])                  per layer: E (tasks, d_e), W_g (N, d_e)
 * y = W·x + b + Σ_i g_i · s · B_i·A_i·dropout(x)    s = lora_alpha / r
 * </pre>
 *
 * <p>The experts are stored stacked, as one rank-r LoRA: A (r, in) holds expert i's A_i in rows
 * i·r/N … (i+1)·r/N − 1, B (out, r) its B_i in the same columns, so the forward is one LoRA with
 * the gate spread over each expert's ranks: {@code s · B·(ĝ ⊙ A·x)}, ĝ = g·M with M (N, r) the 0/1
 * matrix of which expert owns a rank. A_i start as the paper's code draws them, N(0, 0.01²); B = 0,
 * so the model starts as the base. E and W_g start as PyTorch's {@code nn.Embedding} (N(0, 1)) and
 * {@code nn.Linear} (Kaiming-uniform) do. The task id is read per sample ({@link
 * Adaptation#input(String, List)}, field {@value #TASK_FIELD}, names from {@code tasks}); a graph
 * that applies a saved adapter uses the one task {@code task} names instead, so evaluation,
 * generation and merging serve one task at a time — the paper's deployment, where the per-task
 * weights {@code W + s·Σ_i g_i·B_i·A_i} are merged.
 *
 * <p>Adapter layout ({@code peft_type} {@value #PEFT_TYPE}, Graft's own): per layer {@code
 * lora_A.weight} (r, in), {@code lora_B.weight} (out, r), {@code lora_task_embedding.weight}
 * (tasks, d_e) and {@code lora_gate.weight} (N, d_e); {@code adapter_config.json} has {@code
 * num_experts}, {@code task_embedding_dim} and {@code task_ids} (name → id).
 */
final class MoeLora implements MethodInstance {
  static final String PEFT_TYPE = "MOELORA";

  /** The data field (or {@code data_columns} name) that holds each sample's task. */
  static final String TASK_FIELD = "task";

  /** One adapted layer and the full names of its tensors. */
  record Site(
      LinearSite site, int rank, double scale, String a, String b, String embedding, String gate) {}

  private final MoeLoraConfig config;
  private final List<Site> sites = new ArrayList<>();
  private int task;

  MoeLora(MoeLoraConfig config) {
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    sites.clear();
    // Training reads each sample's task; a saved adapter is applied for one chosen task.
    Tensor taskIds;
    if (adaptation.loadingAdapter() || config.tasks().isEmpty()) {
      task = adaptation.loadingAdapter() ? config.chosenTask() : 0;
      taskIds = adaptation.graph().constant(NdArray.of(DType.INT64, new long[] {1, 1}, task));
    } else {
      taskIds = adaptation.input(TASK_FIELD, config.tasks()); // (B, T)
    }
    int n = config.experts();
    for (LinearSite site : adaptation.linears(config.lora().targets())) {
      String module = site.module();
      int r = config.lora().rankOf(module);
      if (r % n != 0) {
        throw new IllegalArgumentException(
            "moelora: the rank of "
                + module
                + " ("
                + r
                + ") is no multiple of num_experts ("
                + n
                + "); change rank_pattern or num_experts.");
      }
      double scale = config.lora().scale(module);
      Tensor a =
          adaptation.parameter(
              module, "lora_A.weight", new long[] {r, site.inFeatures()}, Init.normal(0.01), true);
      Tensor b =
          adaptation.parameter(
              module, "lora_B.weight", new long[] {site.outFeatures(), r}, Init.zeros(), true);
      Tensor embedding =
          adaptation.parameter(
              module,
              "lora_task_embedding.weight",
              new long[] {config.taskCount(), config.embeddingDim()},
              Init.normal(1),
              true);
      Tensor gate =
          adaptation.parameter(
              module,
              "lora_gate.weight",
              new long[] {n, config.embeddingDim()},
              Init.kaimingUniform(Math.sqrt(5)),
              true);
      Tensor owners = adaptation.graph().constant(expertOfRank(n, r));
      adaptation.rewriteLinear(
          site,
          (g, x, base, s) -> {
            Tensor perRank = g.matmul(gateOf(g, taskIds, embedding, gate), owners); // (B, T, r)
            Tensor down = g.linear(adaptation.dropout(x, config.lora().dropout()), a, null);
            Tensor up = g.linear(g.mul(down, perRank), b, null); // (B, T, out)
            return g.add(base, g.mul(up, scale));
          });
      sites.add(new Site(site, r, scale, a.name(), b.name(), embedding.name(), gate.name()));
    }
  }

  /** g = softmax(W_g · E[task]) for every token: (B, T, N), or (1, 1, N) for one task. */
  static Tensor gateOf(GraphOps g, Tensor taskIds, Tensor embedding, Tensor gate) {
    Tensor e = g.gather(embedding, taskIds, 0); // (B, T, d_e)
    return g.softmax(g.linear(e, gate, null), 2); // (B, T, N)
  }

  /** M (N, r): M[i][k] = 1 when rank k belongs to expert i, which owns ranks i·r/N … . */
  private static NdArray expertOfRank(int n, int r) {
    double[] m = new double[n * r];
    for (int k = 0; k < r; k++) {
      m[(k / (r / n)) * r + k] = 1;
    }
    return NdArray.of(DType.FLOAT32, new long[] {n, r}, m);
  }

  @Override
  public Map<String, Object> adapterConfig() {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("peft_type", PEFT_TYPE);
    c.put("task_type", "CAUSAL_LM");
    c.put("r", config.lora().r());
    c.put("lora_alpha", config.lora().alpha());
    c.put("lora_dropout", config.lora().dropout());
    c.put("use_rslora", config.lora().rslora());
    c.put(
        "target_modules",
        config.lora().targets().savedTargetModules(sites.stream().map(Site::site).toList()));
    c.put("rank_pattern", config.lora().rankPattern());
    c.put("alpha_pattern", config.lora().alphaPattern());
    c.put("fan_in_fan_out", sites.stream().anyMatch(s -> s.site().fanInFanOut()));
    c.put("num_experts", config.experts());
    c.put("task_embedding_dim", config.embeddingDim());
    Map<String, Integer> ids = new LinkedHashMap<>();
    for (int t = 0; t < config.tasks().size(); t++) {
      ids.put(config.tasks().get(t), t);
    }
    c.put("task_ids", ids);
    return c;
  }

  @Override
  public boolean mergeable() {
    return true;
  }

  /** W += s · Σ_i g_i · B_i·A_i with the gate of the chosen task (the paper's per-task merge). */
  @Override
  public void merge(WeightEditor weights) {
    add(weights, 1);
  }

  /** W −= the same: the base weights back. */
  @Override
  public void unmerge(WeightEditor weights) {
    add(weights, -1);
  }

  private void add(WeightEditor weights, int sign) {
    for (Site s : sites) {
      double[] g =
          gate(
              weights.read(s.embedding()),
              weights.read(s.gate()),
              task,
              config.experts(),
              config.embeddingDim());
      float[] a = weights.read(s.a()); // (r, in)
      float[] b = weights.read(s.b()); // (out, r)
      float[] w = weights.read(s.site().weight());
      int r = s.rank();
      int perExpert = r / g.length;
      double[] gates = new double[r]; // each expert's gate on each of its ranks
      for (int k = 0; k < r; k++) {
        gates[k] = g[k / perExpert];
      }
      LinearSite site = s.site();
      LowRank.add(
          w,
          site.fanInFanOut(),
          site.outFeatures(),
          site.inFeatures(),
          b,
          gates,
          a,
          r,
          sign * s.scale());
      weights.write(s.site().weight(), w);
    }
  }

  /**
   * softmax(W_g · E[task]) on the host.
   *
   * @param embedding E (tasks, d)
   * @param gate W_g (n, d)
   */
  static double[] gate(float[] embedding, float[] gate, int task, int n, int d) {
    double[] logits = new double[n];
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < d; j++) {
        logits[i] += (double) gate[i * d + j] * embedding[task * d + j];
      }
      max = Math.max(max, logits[i]);
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
      logits[i] = Math.exp(logits[i] - max);
      sum += logits[i];
    }
    for (int i = 0; i < n; i++) {
      logits[i] /= sum;
    }
    return logits;
  }
}
