package dev.graft.train.run;

import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.api.adapt.QuantisedWeight;
import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import dev.graft.model.Architecture;
import dev.graft.model.FourBitCheckpoint;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.adapt.AdaptableModel;
import java.util.List;
import java.util.Optional;

/** A Hugging Face model's graph, as the adaptation machinery sees it. */
final class ModelGraphModel implements AdaptableModel {
  private final ModelGraph model;
  private final SafetensorsReader checkpoint;
  private final List<Linear> linears;
  private final List<Block> blocks;

  ModelGraphModel(ModelGraph model, SafetensorsReader checkpoint) {
    this.model = model;
    this.checkpoint = checkpoint;
    this.linears =
        model.linears().stream()
            .map(
                l ->
                    new Linear(
                        new LinearSite(
                            l.module(),
                            l.layer(),
                            (int) l.input().shape().dim(-1).size(),
                            (int) l.output().shape().dim(-1).size(),
                            l.weight().name(),
                            l.bias() == null ? null : l.bias().name(),
                            l.fanInFanOut()),
                        l.input(),
                        l.output()))
            .toList();
    this.blocks =
        model.blocks().stream()
            .map(
                b ->
                    new Block(
                        b.layer(),
                        b.attentionOutput(),
                        b.mlpOutput(),
                        b.attentionResidual(),
                        b.mlpResidual()))
            .toList();
  }

  @Override
  public Graph graph() {
    return model.graph();
  }

  @Override
  public ModelSpec spec() {
    ModelConfig c = model.config();
    return new ModelSpec(
        c.architecture().hfName(),
        c.hiddenSize(),
        c.numHiddenLayers(),
        c.numAttentionHeads(),
        c.numKeyValueHeads(),
        c.headDim(),
        c.intermediateSize(),
        c.vocabSize(),
        linears.stream().map(l -> l.site().module()).toList(),
        defaultTargets(c.architecture()));
  }

  /** PEFT's default LoRA targets ({@code TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING}). */
  static List<String> defaultTargets(Architecture architecture) {
    return architecture == Architecture.GPT2 ? List.of("c_attn") : List.of("q_proj", "v_proj");
  }

  @Override
  public List<Linear> linears() {
    return linears;
  }

  @Override
  public List<Block> blocks() {
    return blocks;
  }

  @Override
  public void prependVirtualTokens(Tensor embeddings) {
    model.prependVirtualTokens(embeddings);
  }

  @Override
  public void addKeyValuePrefix(int layer, Tensor keys, Tensor values) {
    model.addKeyValuePrefix(layer, keys, values);
  }

  @Override
  public float[] weight(String parameter) {
    return FourBitCheckpoint.floats(checkpoint, checkpointName(parameter));
  }

  @Override
  public Optional<QuantisedWeight> quantised(String parameter) {
    String name = checkpointName(parameter);
    if (!FourBitCheckpoint.isQuantised(checkpoint, name)) {
      return Optional.empty();
    }
    FourBitCheckpoint.Stored s = FourBitCheckpoint.describe(checkpoint, name);
    Tensor packed = model.storedTensor(checkpoint, parameter + ".codes", name);
    return Optional.of(
        s.nested()
            ? new QuantisedWeight(
                s.type(),
                s.n(),
                s.offset(),
                packed,
                null,
                model.storedTensor(checkpoint, parameter + ".absmax_codes", s.absmax()),
                model.storedTensor(checkpoint, parameter + ".nested_absmax", s.nestedAbsmax()))
            : new QuantisedWeight(
                s.type(),
                s.n(),
                0f,
                packed,
                model.storedTensor(checkpoint, parameter + ".absmax", s.absmax()),
                null,
                null));
  }

  private String checkpointName(String parameter) {
    return model
        .config()
        .nameIn(checkpoint, model.checkpointNames().getOrDefault(parameter, parameter));
  }
}
