package dev.graft.api.model;

/**
 * DPO's loss and TRL's reward metrics of a model (with its adapter) against the base model on
 * preference pairs: with π and ρ the two models' log-probabilities of a completion (summed over its
 * tokens and the end-of-text token that closes it), the reward of a completion is β(π − ρ), and the
 * loss of a pair is {@code −log σ(reward(chosen) − reward(rejected))}. Every value is a mean over
 * the pairs.
 *
 * @param beta β
 * @param loss the sigmoid DPO loss
 * @param rewardsChosen {@code rewards/chosen}
 * @param rewardsRejected {@code rewards/rejected}
 * @param rewardsAccuracy {@code rewards/accuracies}: the share of pairs whose chosen reward is the
 *     larger
 * @param rewardsMargin {@code rewards/margins}
 * @param logpsChosen {@code logps/chosen}: π of the chosen completions
 * @param logpsRejected {@code logps/rejected}
 * @param pairs the pairs evaluated
 */
public record PreferenceEvaluation(
    double beta,
    double loss,
    double rewardsChosen,
    double rewardsRejected,
    double rewardsAccuracy,
    double rewardsMargin,
    double logpsChosen,
    double logpsRejected,
    int pairs) {}
