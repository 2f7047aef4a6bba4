package dev.graft.method.adalora;

import dev.graft.api.adapt.StepContext;
import dev.graft.api.adapt.StepHook;

/**
 * PEFT's {@code AdaLoraModel.update_and_allocate(global_step)}, called after every optimizer step
 * of the training phase, where PEFT's examples call it (after {@code optimizer.step()}, with the
 * gradients still there; their {@code global_step} counts from 0, so the hook after the first step
 * is step 0):
 *
 * <ul>
 *   <li>before {@code total_step − tfinal}: update the importance EMAs, and allocate the scheduled
 *       budget on the steps the schedule says;
 *   <li>at {@code total_step − tfinal}: the final allocation (budget target_r × layers), then
 *       forget the EMAs;
 *   <li>after it: zero the pruned E entries again after every step (AdamW moves them).
 * </ul>
 *
 * <p>The EMAs and the rank pattern live in {@code state} tensors, read once after a resume and
 * written after every step, so checkpoints carry them.
 */
final class BudgetHook implements StepHook {
  static final String SENSITIVITY = "adalora.exp_avg_ipt";
  static final String UNCERTAINTY = "adalora.exp_avg_unc";
  static final String PATTERN = "adalora.rank_pattern";

  private final RankAllocator allocator;
  private final AdaLoraConfig config;
  private boolean restored;
  private long totalStep = -1;

  BudgetHook(RankAllocator allocator, AdaLoraConfig config) {
    this.allocator = allocator;
    this.config = config;
  }

  /** The schedule's length once the first step told it (total_step or the job's steps), or -1. */
  long totalStep() {
    return totalStep;
  }

  @Override
  public void afterStep(StepContext context) {
    if (!context.phase().equals("train")) {
      return;
    }
    if (totalStep < 0) {
      totalStep = config.totalStep() != null ? config.totalStep() : context.totalSteps();
      AdaLoraConfig.checkSchedule(config.tinit(), config.tfinal(), totalStep);
    }
    if (!restored) {
      allocator.restore(
          context.read(SENSITIVITY), context.read(UNCERTAINTY), context.read(PATTERN));
      restored = true;
    }
    long step = context.step() - 1;
    long finalStep = totalStep - config.tfinal();
    if (step < finalStep) {
      allocator.updateImportance(context::read, context::gradient);
      RankAllocator.Budget budget = allocator.schedule(step, totalStep);
      if (budget.mask()) {
        allocator.maskToBudget(budget.budget(), context::read).forEach(context::write);
      }
    } else if (step == finalStep) {
      allocator
          .maskToBudget(allocator.schedule(step, totalStep).budget(), context::read)
          .forEach(context::write);
      allocator.resetImportance();
    } else {
      allocator.applyPattern(context::read).forEach(context::write);
    }
    context.write(SENSITIVITY, allocator.sensitivity());
    context.write(UNCERTAINTY, allocator.uncertainty());
    context.write(PATTERN, allocator.pattern());
  }
}
