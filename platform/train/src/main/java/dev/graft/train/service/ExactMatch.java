package dev.graft.train.service;

import dev.graft.api.progress.Progress;
import dev.graft.model.ChatTemplate;
import dev.graft.model.Generator;
import dev.graft.model.Tokenizer;
import dev.graft.train.data.Sample;
import dev.graft.train.run.SavedFormat;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The share of prompts whose greedy completion equals the reference completion, both trimmed.
 * Prompts are put in the saved sample format as generation puts them. Each prompt gets as many new
 * tokens as its completion (trailing whitespace trimmed) takes after it in the full text, so a
 * model that would go on talking after the reference still matches; one that stops early does not.
 * Prompts are generated in batches whose longest prompt plus largest budget fit the model's
 * context; a prompt that leaves no room in the context is a miss.
 */
final class ExactMatch {
  private final Generator generator;
  private final Tokenizer tokenizer;
  private final ChatTemplate template;
  private final SavedFormat format;
  private final int context;

  /** One prompt, its token budget and the completion it should produce. */
  private record Item(int[] prompt, int budget, String reference) {}

  /**
   * @param template the model's chat template, or null
   * @param context the model's {@code max_position_embeddings}
   */
  ExactMatch(
      Generator generator,
      Tokenizer tokenizer,
      ChatTemplate template,
      SavedFormat format,
      int context) {
    this.generator = generator;
    this.tokenizer = tokenizer;
    this.template = template;
    this.format = format;
    this.context = context;
  }

  /**
   * The share of matches among prompt/completion and instruction samples.
   *
   * @param batchSize the most prompts per generation run
   */
  double share(List<Sample> samples, int batchSize) {
    int matches = 0;
    List<Item> group = new ArrayList<>();
    int longest = 0;
    int largest = 0;
    try (Progress.Task task =
        Progress.start("generating for exact match", samples.size(), "samples")) {
      for (Sample sample : samples) {
        Item item = item(sample);
        if (item == null) {
          task.advance(1);
          continue;
        }
        boolean fits =
            Math.max(longest, item.prompt().length) + Math.max(largest, item.budget()) <= context;
        if (group.size() == batchSize || !fits) {
          matches += matches(group);
          task.advance(group.size());
          group.clear();
          longest = 0;
          largest = 0;
        }
        group.add(item);
        longest = Math.max(longest, item.prompt().length);
        largest = Math.max(largest, item.budget());
      }
      matches += matches(group);
      task.advance(group.size());
    }
    return (double) matches / samples.size();
  }

  /** The sample's prompt and budget, or null when the prompt leaves no room in the context. */
  private Item item(Sample sample) {
    SavedFormat.Prompt prompt = format.prompt(sample, tokenizer, template);
    String reference =
        sample instanceof Sample.Instruction i
            ? i.output()
            : ((Sample.PromptCompletion) sample).completion();
    int[] ids = prompt.ids(tokenizer);
    if (ids.length >= context) {
      return null;
    }
    int full =
        tokenizer.encode(prompt.text() + reference.stripTrailing(), prompt.specialTokens()).length;
    return new Item(ids, Math.min(context - ids.length, Math.max(1, full - ids.length)), reference);
  }

  private int matches(List<Item> group) {
    if (group.isEmpty()) {
      return 0;
    }
    int budget = group.stream().mapToInt(Item::budget).max().orElse(1);
    Generator.Options greedy =
        Generator.Options.greedy(budget)
            .withStopTokens(generator.defaults().stopTokens())
            .withStopStrings(format.stops());
    List<Generator.Completion> completions =
        generator.generate(group.stream().map(Item::prompt).toList(), greedy);
    int matches = 0;
    for (int i = 0; i < completions.size(); i++) {
      Item item = group.get(i);
      int[] ids = completions.get(i).ids();
      int[] kept = Arrays.copyOf(ids, Math.min(ids.length, item.budget()));
      String text = ModelServiceImpl.continuation(tokenizer, item.prompt(), kept);
      for (String stop : format.stops()) {
        int at = text.indexOf(stop);
        text = at < 0 ? text : text.substring(0, at);
      }
      if (text.strip().equals(item.reference().strip())) {
        matches++;
      }
    }
    return matches;
  }
}
