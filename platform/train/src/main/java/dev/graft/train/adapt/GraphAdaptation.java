package dev.graft.train.adapt;

import dev.graft.api.Suggestions;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.InsertionPoint;
import dev.graft.api.adapt.LinearRewrite;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.api.adapt.Objective;
import dev.graft.api.adapt.QuantisedWeight;
import dev.graft.api.adapt.SampleFormat;
import dev.graft.api.adapt.StepHook;
import dev.graft.api.adapt.TargetSpec;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BinaryOperator;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import java.util.stream.Stream;

/**
 * The platform's {@link Adaptation} over a model graph: it resolves targets, declares parameters,
 * rewires the graph for rewrites and insertions, and records what the training step needs (initial
 * values, parameter groups, loss terms, objective, sample format, extra inputs and outputs, hooks).
 */
public final class GraphAdaptation implements Adaptation {
  /** Name of the per-step INT64 scalar input that seeds dropout masks. */
  public static final String DROPOUT_SEED = "dropout_seed";

  /** A parameter group: matching trainables get {@code learningRateScale} × the job's rate. */
  public record Group(
      String name, Predicate<String> members, double learningRateScale, double weightDecay) {}

  /** An extra scalar term of the loss. */
  public record LossTerm(String name, Tensor term, double weight) {}

  /** A step hook and its cadence: every {@code every}-th step (0: phase ends only). */
  public record Hook(StepHook hook, int every) {}

  private final AdaptableModel model;
  private final boolean training;
  private boolean loadingAdapter;
  private Function<String, long[]> savedShapes = p -> null;
  private java.util.function.BiFunction<String, Boolean, int[]> tokenizer;
  private final DType computeType;
  private final Map<String, Init> inits = new LinkedHashMap<>();
  private final Map<String, long[]> shapes = new LinkedHashMap<>();
  private final Map<String, String> owners = new LinkedHashMap<>();
  private final Map<String, Tensor> currentOutputs = new LinkedHashMap<>();
  private final Map<String, Tensor> blockPoints = new LinkedHashMap<>();
  private final List<Group> groups = new ArrayList<>();
  private final List<LossTerm> losses = new ArrayList<>();
  private final Map<String, Tensor> outputs = new LinkedHashMap<>();
  private final Map<String, Tensor> inputs = new LinkedHashMap<>();
  private final Map<String, List<String>> inputLabels = new LinkedHashMap<>();
  private final List<Hook> hooks = new ArrayList<>();
  private final Map<String, HostTensor> frozen = new LinkedHashMap<>();
  private final Map<String, Tensor> replacedWeights = new LinkedHashMap<>();
  private final Map<String, String> replacedBy = new LinkedHashMap<>();
  private final Set<String> frozenNames = new LinkedHashSet<>();
  private final Map<String, Optional<QuantisedWeight>> quantised = new LinkedHashMap<>();
  private final Map<String, HostTensor> state = new LinkedHashMap<>();
  private final Set<String> exposedGradients = new LinkedHashSet<>();
  private int warmupSteps = -1;
  private Objective objective;
  private String method = "a method";
  private SampleFormat sampleFormat;
  private String sampleFormatOwner;
  private Tensor dropoutSeed;
  private int dropoutSites;

  /**
   * @param model the model graph to adapt
   * @param training whether dropout is active (false for evaluation and generation)
   * @param computeType the dtype new parameters get
   */
  public GraphAdaptation(AdaptableModel model, boolean training, DType computeType) {
    this.model = model;
    this.training = training;
    this.computeType = computeType;
  }

  /** Marks this graph as applying a saved adapter: {@link #loadingAdapter()} is then true. */
  public GraphAdaptation forSavedAdapter() {
    loadingAdapter = true;
    return this;
  }

  /**
   * Marks this graph as applying a saved adapter whose tensors have the given shapes ({@link
   * #savedShape}).
   *
   * @param shapes a parameter's full name to its saved shape, or to null when the adapter lacks it
   */
  public GraphAdaptation forSavedAdapter(Function<String, long[]> shapes) {
    this.savedShapes = shapes;
    return forSavedAdapter();
  }

  @Override
  public Optional<long[]> savedShape(String parameter) {
    return Optional.ofNullable(savedShapes.apply(parameter)).map(long[]::clone);
  }

  @Override
  public boolean loadingAdapter() {
    return loadingAdapter;
  }

  /** Gives methods the model's tokenizer through {@link #encode}: text and special tokens → ids. */
  public GraphAdaptation withTokenizer(
      java.util.function.BiFunction<String, Boolean, int[]> encode) {
    this.tokenizer = encode;
    return this;
  }

  @Override
  public int[] encode(String text, boolean specialTokens) {
    if (tokenizer == null) {
      return Adaptation.super.encode(text, specialTokens);
    }
    return tokenizer.apply(text, specialTokens);
  }

  @Override
  public ModelSpec model() {
    return model.spec();
  }

  @Override
  public Graph graph() {
    return model.graph();
  }

  @Override
  public List<LinearSite> linears(TargetSpec targets) {
    List<LinearSite> all = model.linears().stream().map(AdaptableModel.Linear::site).toList();
    List<LinearSite> chosen = new ArrayList<>();
    switch (targets.kind()) {
      case ALL_LINEAR ->
          all.stream().filter(s -> !s.suffix().equals("lm_head")).forEach(chosen::add);
      case DEFAULT, SUFFIXES -> {
        List<String> patterns =
            targets.kind() == TargetSpec.Kind.DEFAULT
                ? model.spec().defaultTargets()
                : targets.patterns();
        for (String pattern : patterns) {
          List<LinearSite> matched =
              all.stream().filter(s -> matches(s.module(), pattern)).toList();
          if (matched.isEmpty()) {
            throw new IllegalArgumentException(
                Suggestions.unknown(
                    "target module",
                    pattern,
                    suffixes(all),
                    model.spec().architecture() + "'s linear layers end in",
                    ""));
          }
          matched.stream().filter(s -> !chosen.contains(s)).forEach(chosen::add);
        }
        chosen.sort((a, b) -> Integer.compare(all.indexOf(a), all.indexOf(b)));
      }
      case REGEX -> {
        Pattern regex;
        try {
          regex = Pattern.compile(targets.patterns().get(0));
        } catch (PatternSyntaxException e) {
          throw new IllegalArgumentException(
              "Target regex \""
                  + targets.patterns().get(0)
                  + "\" is not a valid regular expression: "
                  + e.getDescription()
                  + ".");
        }
        all.stream().filter(s -> regex.matcher(s.module()).matches()).forEach(chosen::add);
        if (chosen.isEmpty()) {
          throw new IllegalArgumentException(
              "Target regex \""
                  + targets.patterns().get(0)
                  + "\" matches no linear layer; module paths look like \""
                  + all.get(0).module()
                  + "\".");
        }
      }
    }
    chosen.removeIf(s -> targets.exclude().stream().anyMatch(e -> matches(s.module(), e)));
    if (!targets.layers().isEmpty()) {
      chosen.removeIf(s -> !targets.layers().contains(s.layer()));
    }
    return chosen;
  }

  private static boolean matches(String module, String pattern) {
    return module.equals(pattern) || module.endsWith("." + pattern);
  }

  private static Set<String> suffixes(List<LinearSite> sites) {
    Set<String> suffixes = new TreeSet<>();
    sites.forEach(s -> suffixes.add(s.suffix()));
    return suffixes;
  }

  @Override
  public Tensor parameter(String owner, String name, long[] shape, Init init, boolean trainable) {
    String full = declare(owner, name);
    Tensor t = graph().parameter(full, computeType, Shape.of(shape), trainable);
    inits.put(full, init);
    shapes.put(full, shape.clone());
    owners.put(full, method);
    return t;
  }

  @Override
  public Tensor frozen(String owner, String name, HostTensor values) {
    String full = declare(owner, name);
    frozen.put(full, values);
    frozenNames.add(full);
    return graph().parameter(full, values.dtype(), Shape.of(values.shape()), false);
  }

  /**
   * {@inheritDoc}
   *
   * <p>Outside training (evaluation, generation, merging) nothing steps, so the state is a frozen
   * tensor of its initial value, which an adapter that saved it overrides.
   */
  @Override
  public Tensor state(String owner, String name, HostTensor initial) {
    if (!training) {
      return frozen(owner, name, initial);
    }
    String full = declare(owner, name);
    state.put(full, initial);
    if (initial.dtype() == DType.FLOAT32) {
      owners.put(full, method);
    }
    return graph().input(full, initial.dtype(), Shape.of(initial.shape()));
  }

  /** The full name of a new tensor, checked to be free. */
  private String declare(String owner, String name) {
    String full = owner.isEmpty() ? name : owner + "." + name;
    if (shapes.containsKey(full)
        || frozenNames.contains(full)
        || state.containsKey(full)
        || parameters().contains(full)) {
      throw new IllegalArgumentException("Tensor \"" + full + "\" is declared twice.");
    }
    return full;
  }

  @Override
  public Tensor tensor(String name) {
    if (!parameters().contains(name) && !state.containsKey(name) && !frozenNames.contains(name)) {
      throw new IllegalArgumentException(
          "The graph has no parameter or state \"" + name + "\"; see Adaptation.parameters().");
    }
    return graph().tensor(name);
  }

  @Override
  public void exposeGradient(String parameter) {
    if (!parameters().contains(parameter)) {
      throw new IllegalArgumentException(
          "Cannot expose the gradient of \"" + parameter + "\": the model has no such parameter.");
    }
    exposedGradients.add(parameter);
  }

  @Override
  public List<String> parameters() {
    return graph().parameters().stream().map(Tensor::name).toList();
  }

  @Override
  public float[] weight(String parameter) {
    return model.weight(weightName(parameter));
  }

  /**
   * {@code parameter}, checked to be a base weight: in the graph, or replaced in it by a method
   * (then it is read as stored).
   */
  private String weightName(String parameter) {
    if (!replacedWeights.containsKey(parameter)
        && (!parameters().contains(parameter) || inits.containsKey(parameter))) {
      throw new IllegalArgumentException(
          "\"" + parameter + "\" is not a base weight of this model.");
    }
    return parameter;
  }

  /**
   * {@inheritDoc}
   *
   * <p>The stored tensors are declared once per weight, however many methods ask; they never train.
   */
  @Override
  public Optional<QuantisedWeight> quantised(String parameter) {
    if (!quantised.containsKey(parameter)) {
      weightName(parameter);
      Optional<QuantisedWeight> q = model.quantised(parameter);
      q.ifPresent(
          w ->
              Stream.of(w.packed(), w.absmax(), w.absmaxCodes(), w.nestedAbsmax())
                  .filter(Objects::nonNull)
                  .forEach(t -> frozenNames.add(t.name())));
      quantised.put(parameter, q);
    }
    return quantised.get(parameter);
  }

  @Override
  public int setTrainable(Predicate<String> parameters, boolean trainable) {
    if (trainable) {
      replacedBy.forEach(
          (weight, by) -> {
            if (parameters.test(weight)) {
              throw clash("train", weight, by, "replaced it by a weight it computes");
            }
          });
    }
    int count = 0;
    for (Tensor p : graph().parameters()) {
      // Integer tensors (quantised codes) and methods' frozen constants never train: a broad
      // predicate leaves them frozen.
      if (parameters.test(p.name())
          && (!trainable || (p.dtype().isFloating() && !frozenNames.contains(p.name())))) {
        graph().setTrainable(p, trainable);
        if (trainable) {
          owners.putIfAbsent(p.name(), method);
        }
        count++;
      }
    }
    return count;
  }

  @Override
  public Tensor dropout(Tensor x, double p) {
    if (!training || p == 0) {
      return x;
    }
    if (dropoutSeed == null) {
      dropoutSeed = graph().input(DROPOUT_SEED, DType.INT64, Shape.scalar());
    }
    // Each call site hashes a different seed, so no two sites share a mask.
    Tensor seed =
        graph().add(dropoutSeed, graph().scalar(1_000_003L * ++dropoutSites, DType.INT64));
    return graph().dropout(x, p, seed);
  }

  @Override
  public void rewriteLinear(LinearSite site, LinearRewrite rewrite) {
    AdaptableModel.Linear linear =
        model.linears().stream()
            .filter(l -> l.site().module().equals(site.module()))
            .findFirst()
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "\"" + site.module() + "\" is not a linear layer of this model."));
    Tensor current = currentOutputs.getOrDefault(site.module(), linear.output());
    Tensor replacement = rewrite.apply(graph(), linear.input(), current, site);
    graph().replaceUses(current, replacement);
    currentOutputs.put(site.module(), replacement);
  }

  @Override
  public void replaceWeight(String parameter, Tensor replacement) {
    String first = replacedBy.get(parameter);
    if (first != null) {
      throw clash(
          "replace",
          parameter,
          first,
          "already replaced it, and replacing it again would drop that" + " change");
    }
    String trainer = owners.get(parameter);
    if (trainer != null) {
      throw clash("replace", parameter, trainer, "trains it, and a replaced weight cannot train");
    }
    graph().replaceUses(weightTensor(parameter), replacement);
    replacedWeights.put(parameter, replacement);
    replacedBy.put(parameter, method);
  }

  /**
   * {@code Method "<this>" cannot <verb> "<parameter>": method "<other>" <why>; use one of the
   * two.}
   */
  private IllegalArgumentException clash(String verb, String parameter, String other, String why) {
    return new IllegalArgumentException(
        "Method \""
            + method
            + "\" cannot "
            + verb
            + " \""
            + parameter
            + "\": method \""
            + other
            + "\" "
            + why
            + "; use one of the two.");
  }

  @Override
  public Tensor weightTensor(String parameter) {
    Tensor replaced = replacedWeights.get(parameter);
    if (replaced != null) {
      return replaced;
    }
    if (!parameters().contains(parameter)) {
      throw new IllegalArgumentException("\"" + parameter + "\" is not a parameter of this model.");
    }
    return graph().tensor(parameter);
  }

  @Override
  public void insert(InsertionPoint point, int layer, UnaryOperator<Tensor> module) {
    insert(point, layer, (branch, residual) -> module.apply(branch), false);
  }

  @Override
  public void insert(InsertionPoint point, int layer, BinaryOperator<Tensor> module) {
    insert(point, layer, module, true);
  }

  /**
   * Replaces the uses of the branch at {@code point} of block {@code layer} (the latest insertion's
   * result there, if any) by {@code module(branch, residual)}.
   */
  private void insert(
      InsertionPoint point, int layer, BinaryOperator<Tensor> module, boolean needsResidual) {
    AdaptableModel.Block block =
        model.blocks().stream()
            .filter(b -> b.layer() == layer)
            .findFirst()
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "The model has no block "
                            + layer
                            + "; blocks are 0 to "
                            + (model.blocks().size() - 1)
                            + "."));
    boolean attention = point == InsertionPoint.AFTER_ATTENTION;
    Tensor residual = attention ? block.attentionResidual() : block.mlpResidual();
    if (needsResidual && residual == null) {
      throw new IllegalArgumentException(
          "This model graph does not give block "
              + layer
              + "'s residual stream; insert a module of the branch alone.");
    }
    String key = point + "/" + layer;
    Tensor current =
        blockPoints.getOrDefault(key, attention ? block.attentionOutput() : block.mlpOutput());
    Tensor replacement = module.apply(current, residual);
    graph().replaceUses(current, replacement);
    blockPoints.put(key, replacement);
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
  public void group(
      String name, Predicate<String> parameters, double learningRateScale, double weightDecay) {
    if (groups.stream().anyMatch(g -> g.name().equals(name)) || name.equals("default")) {
      throw new IllegalArgumentException("Parameter group \"" + name + "\" is declared twice.");
    }
    groups.add(new Group(name, parameters, learningRateScale, weightDecay));
  }

  @Override
  public Tensor input(String name) {
    return input(name, List.of());
  }

  @Override
  public Tensor input(String name, List<String> labels) {
    List<String> known = inputLabels.get(name);
    if (known != null && !known.isEmpty() && !labels.isEmpty() && !known.equals(labels)) {
      throw new IllegalArgumentException(
          "Input \"" + name + "\" is declared with labels " + known + " and " + labels + ".");
    }
    if (known == null || known.isEmpty()) {
      inputLabels.put(name, List.copyOf(labels));
    }
    if (inputs.containsKey(name)) {
      return inputs.get(name);
    }
    Tensor t = graph().input(name, DType.INT64, Shape.with("batch", "seq"));
    inputs.put(name, t);
    return t;
  }

  /** Every declared input with its labels in index order (empty: a plain integer field). */
  public Map<String, List<String>> inputLabels() {
    return Collections.unmodifiableMap(inputLabels);
  }

  @Override
  public void addLoss(String name, Tensor term, double weight) {
    losses.add(new LossTerm(name, term, weight));
  }

  @Override
  public void objective(Objective objective) {
    if (this.objective != null) {
      throw new IllegalArgumentException(
          "Two methods set the training objective; combine at most one objective method.");
    }
    this.objective = objective;
  }

  @Override
  public void sampleFormat(SampleFormat format) {
    if (sampleFormat != null) {
      throw new IllegalArgumentException(
          "Methods "
              + sampleFormatOwner
              + " and "
              + method
              + " both set how samples are formatted; combine at most one of them.");
    }
    sampleFormat = java.util.Objects.requireNonNull(format, "format");
    sampleFormatOwner = method;
  }

  /** Names the method whose {@code adapt} runs next, for messages about conflicts. */
  public void adapting(String methodName) {
    this.method = methodName;
  }

  @Override
  public void output(String name, Tensor tensor) {
    if (outputs.putIfAbsent(name, tensor) != null) {
      throw new IllegalArgumentException("Output \"" + name + "\" is declared twice.");
    }
  }

  @Override
  public void onStep(StepHook hook, int every) {
    if (every < 0) {
      throw new IllegalArgumentException(
          "A step hook's cadence must be 0 (phase ends only) or more, not " + every + ".");
    }
    hooks.add(new Hook(java.util.Objects.requireNonNull(hook, "hook"), every));
  }

  @Override
  public void calibration(int warmupSteps) {
    if (warmupSteps < 0) {
      throw new IllegalArgumentException(
          "Calibration warm-up steps must be 0 or more, not " + warmupSteps + ".");
    }
    this.warmupSteps = Math.max(this.warmupSteps, warmupSteps);
  }

  /**
   * Initial values of every parameter the methods declared, drawn in declaration order from {@code
   * seed}.
   */
  public Map<String, float[]> initialValues(long seed) {
    Random random = new Random(seed);
    Map<String, float[]> values = new LinkedHashMap<>();
    inits.forEach(
        (name, init) -> {
          long[] shape = shapes.get(name);
          long n = 1;
          for (long d : shape) {
            n *= d;
          }
          float[] v = new float[Math.toIntExact(n)];
          init.fill(v, shape, random);
          values.put(name, v);
        });
    return values;
  }

  /**
   * The tensors of one method, in the order it claimed them: the parameters it declared (trainable
   * or not), its float32 state, and the model's own parameters it made trainable and that still
   * are; a tensor two methods claim belongs to the first. Tensors declared with {@link #frozen} are
   * not among them: the method computes them again when an adapter is loaded.
   *
   * @param methodName the name given to {@link #adapting} before the method adapted the graph
   */
  public List<String> tensorsOf(String methodName) {
    List<String> tensors = new ArrayList<>();
    owners.forEach(
        (name, owner) -> {
          if (owner.equals(methodName)
              && (inits.containsKey(name)
                  || state.containsKey(name)
                  || graph().isTrainable(graph().tensor(name)))) {
            tensors.add(name);
          }
        });
    return tensors;
  }

  /** The parameters methods declared (as opposed to the model's own). */
  public Set<String> declared() {
    return new LinkedHashSet<>(inits.keySet());
  }

  public List<Group> groups() {
    return List.copyOf(groups);
  }

  public List<LossTerm> losses() {
    return List.copyOf(losses);
  }

  public Objective objective() {
    return objective;
  }

  /** The sample format a method set, or null for the platform's own rendering. */
  public SampleFormat sampleFormat() {
    return sampleFormat;
  }

  /** The method that set the {@link #sampleFormat()}, or null. */
  public String sampleFormatOwner() {
    return sampleFormatOwner;
  }

  public Map<String, Tensor> outputs() {
    return Map.copyOf(outputs);
  }

  public Map<String, Tensor> inputs() {
    return Map.copyOf(inputs);
  }

  public List<Hook> hooks() {
    return List.copyOf(hooks);
  }

  /**
   * Frozen tensors the methods supplied with {@link #frozen}, by full name; empty after {@link
   * #releaseFrozenValues}.
   */
  public Map<String, HostTensor> frozenTensors() {
    return Collections.unmodifiableMap(frozen);
  }

  /**
   * Drops this object's references to the {@link #frozen} values once the backend holds its own
   * copy, so that the process keeps them once (NF4 codes or a PiSSA residual are as large as the
   * weights they stand for).
   */
  public void releaseFrozenValues() {
    frozen.clear();
  }

  /** Initial values of the state the methods declared with {@link #state}, by full name. */
  public Map<String, HostTensor> stateTensors() {
    return Collections.unmodifiableMap(state);
  }

  /** Trainables whose gradients hooks read. */
  public Set<String> exposedGradients() {
    return Collections.unmodifiableSet(exposedGradients);
  }

  /** The warm-up steps of the calibration phase a method asked for, or -1 for none. */
  public int calibrationWarmup() {
    return warmupSteps;
  }

  /**
   * Every frozen tensor a method supplied, as the backend takes it: the {@link #frozen} tensors and
   * the declared parameters that are not trainable, from their initialisation.
   *
   * @param initial the declared parameters' values ({@link #initialValues})
   */
  public Map<String, HostTensor> methodWeights(Map<String, float[]> initial) {
    Map<String, HostTensor> weights = new LinkedHashMap<>(frozen);
    for (String name : inits.keySet()) {
      Tensor t = graph().tensor(name);
      if (!graph().isTrainable(t) && graph().parameters().contains(t)) {
        weights.put(name, HostTensor.ofFloats(shapes.get(name), initial.get(name)));
      }
    }
    return weights;
  }

  /** Whether some method asked for dropout (so each step needs a {@value #DROPOUT_SEED}). */
  public boolean usesDropout() {
    return dropoutSeed != null;
  }
}
