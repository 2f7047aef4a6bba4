package dev.graft.method.moelora;

import dev.graft.api.Options;
import dev.graft.method.lora.spi.LoraConfig;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * MoELoRA's settings, checked.
 *
 * @param lora the LoRA settings; r is the experts' ranks together
 * @param experts N, the experts per adapted layer, each of rank r / N
 * @param embeddingDim the size of a task's embedding, which the gate reads
 * @param tasks the task names in id order; empty: one task, and no task field is read
 * @param task the task that evaluation, generation and merging apply, or empty
 */
record MoeLoraConfig(
    LoraConfig lora, int experts, int embeddingDim, List<String> tasks, String task) {
  static MoeLoraConfig of(Options o) {
    LoraConfig lora = LoraConfig.of(o);
    int experts = o.getInt("num_experts");
    if (experts <= 0 || lora.r() % experts != 0) {
      throw new IllegalArgumentException(
          "num_experts must divide r ("
              + lora.r()
              + "), not "
              + experts
              + ": each expert has rank r / num_experts.");
    }
    int dim = o.getInt("task_embedding_dim");
    if (dim <= 0) {
      throw new IllegalArgumentException("task_embedding_dim must be positive, not " + dim + ".");
    }
    List<String> tasks = o.getList("tasks");
    if (new LinkedHashSet<>(tasks).size() != tasks.size()) {
      throw new IllegalArgumentException("tasks must not repeat a name: " + tasks + ".");
    }
    String task = o.has("task") ? o.getString("task") : "";
    if (!task.isEmpty() && !tasks.isEmpty() && !tasks.contains(task)) {
      throw new IllegalArgumentException(
          "Unknown task \"" + task + "\"; the known tasks are " + tasks + ".");
    }
    return new MoeLoraConfig(lora, experts, dim, tasks, task);
  }

  /** How many tasks the gate tells apart: one when no tasks are named. */
  int taskCount() {
    return Math.max(1, tasks.size());
  }

  /**
   * The id of the task a graph that applies a saved adapter uses: {@link #task}'s, or 0 when the
   * adapter knows one task.
   *
   * @throws IllegalArgumentException when the adapter knows several tasks and none is chosen
   */
  int chosenTask() {
    if (tasks.isEmpty()) {
      return 0;
    }
    if (task.isEmpty()) {
      throw new IllegalArgumentException(
          "This MoELoRA adapter was trained for the tasks "
              + tasks
              + "; choose one with --task NAME (graft:generate, graft:eval, graft:merge, graft:export).");
    }
    return tasks.indexOf(task);
  }
}
