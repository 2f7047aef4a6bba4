package dev.graft.api;

/** The families of fine-tuning methods, as grouped in the PEFT literature. */
public enum MethodFamily {
  /** Low-rank updates of linear weights: LoRA, LoRA+, AdaLoRA, QLoRA, DoRA, PiSSA, … */
  LOW_RANK("low-rank"),
  /** Trainable virtual tokens or key/value prefixes: prompt, prefix and P-tuning. */
  PROMPT("prompt"),
  /** New modules inserted into each block: Houlsby adapters. */
  ADAPTER("adapter"),
  /** A chosen subset of the existing weights becomes trainable: BitFit. */
  SELECTIVE("selective"),
  /** A training objective and data handling rather than new weights: instruction tuning, DPO. */
  OBJECTIVE("objective"),
  /** Every weight is trainable: the baseline. */
  FULL("full");

  private final String label;

  MethodFamily(String label) {
    this.label = label;
  }

  /** The lower-case label shown by the shell. */
  public String label() {
    return label;
  }
}
