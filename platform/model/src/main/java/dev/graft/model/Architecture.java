package dev.graft.model;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The model architectures Graft reads, by their Hugging Face {@code architectures} name. */
public enum Architecture {
  LLAMA("LlamaForCausalLM"),
  MISTRAL("MistralForCausalLM"),
  QWEN2("Qwen2ForCausalLM"),
  GPT2("GPT2LMHeadModel");

  private final String hfName;

  Architecture(String hfName) {
    this.hfName = hfName;
  }

  /**
   * The class name in {@code config.json}'s {@code architectures}, e.g. {@code LlamaForCausalLM}.
   */
  public String hfName() {
    return hfName;
  }

  /**
   * The architecture with this Hugging Face name.
   *
   * @throws IllegalArgumentException naming the supported ones when there is none
   */
  public static Architecture of(String hfName) {
    for (Architecture a : values()) {
      if (a.hfName.equals(hfName)) {
        return a;
      }
    }
    throw new IllegalArgumentException(
        "Unsupported architecture \"" + hfName + "\". Supported: " + supported() + ".");
  }

  static String supported() {
    return Arrays.stream(values()).map(Architecture::hfName).collect(Collectors.joining(", "));
  }
}
