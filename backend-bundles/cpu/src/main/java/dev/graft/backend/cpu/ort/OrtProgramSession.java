package dev.graft.backend.cpu.ort;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.graft.api.backend.BackendException;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.api.progress.Progress;
import dev.graft.graph.DType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A {@link Program} in an ONNX Runtime session. Frozen weights are held once: ONNX Runtime reads
 * those with a file location from the program's weight folder itself (on the CPU it maps them from
 * the file, so they share the page cache), and copies the others from the program's buffers through
 * {@code addExternalInitializers} (without a Java-side copy where they are direct); no GEMM keeps a
 * prepacked copy. Carried outputs are kept as native tensors and fed to the next run as they are,
 * so trainables and optimizer moments never pass through Java between steps.
 *
 * <p>Carried state of a fixed shape (trainables, optimizer moments) lives in two buffers per input,
 * allocated once: a run reads one and ONNX Runtime writes the next value into the other as a pinned
 * output, then they swap. So a step allocates no state, and the process holds the state twice, not
 * three times (initial copy, the last run's outputs, the new ones). State whose shape changes from
 * run to run (a KV cache) takes the run's own outputs instead.
 *
 * <p>Ownership: the state buffers and their tensors belong to the session; tensors made from host
 * data by {@link #setState} are closed when replaced; tensors that a run produced belong to that
 * run's {@link OrtSession.Result}, which is closed once the next run has replaced all of them.
 * Every native object is closed exactly once, by {@link #close()} at the latest.
 */
public final class OrtProgramSession implements Session {
  /** ONNX Runtime sessions open now, by backend name: a leak shows here first. */
  private static final Map<String, AtomicInteger> OPEN = new ConcurrentHashMap<>();

  private final String backend;
  private final OrtEnvironment env;
  private final OrtSession.SessionOptions options;
  private final OrtSession session;
  private final Map<String, String> carry;
  private final Set<String> carriedInputs;
  private final Map<String, OnnxTensor> state = new HashMap<>();
  private final List<OnnxTensor> ownedState = new ArrayList<>();

  /** Double buffers by carried input, for the carried values of a fixed shape. */
  private final Map<String, Slots> slots = new HashMap<>();

  private OrtSession.Result lastRun;
  private boolean closed;

  private OrtProgramSession(
      String backend,
      OrtEnvironment env,
      OrtSession.SessionOptions options,
      OrtSession session,
      Program program) {
    this.backend = backend;
    OPEN.computeIfAbsent(backend, b -> new AtomicInteger()).incrementAndGet();
    this.env = env;
    this.options = options;
    this.session = session;
    this.carry = program.carry();
    this.carriedInputs = new LinkedHashSet<>(program.carry().values());
  }

  /**
   * Two tensors over two direct buffers for one carried input: {@code current} is the input of the
   * next run, the other receives its output.
   */
  private static final class Slots {
    final long[] shape;
    final DType dtype;
    final ByteBuffer[] buffers = new ByteBuffer[2];
    final OnnxTensor[] tensors = new OnnxTensor[2];
    int current;
    boolean set;

    Slots(OrtEnvironment env, TensorInfo info) throws OrtException {
      this.shape = info.getShape();
      this.dtype = dtype(info.type);
      long bytes = HostTensor.elements(shape) * dtype.byteSize();
      if (bytes > Integer.MAX_VALUE) {
        throw new IllegalArgumentException(
            "A carried tensor of shape "
                + Arrays.toString(shape)
                + " has more than 2 GiB, more than one buffer holds.");
      }
      for (int i = 0; i < 2; i++) {
        buffers[i] = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
        tensors[i] = OnnxTensor.createTensor(env, buffers[i], shape, javaType(dtype));
      }
    }

    OnnxTensor input() {
      return tensors[current];
    }

    OnnxTensor output() {
      return tensors[1 - current];
    }

    void close() {
      for (OnnxTensor t : tensors) {
        if (t != null) {
          t.close();
        }
      }
    }
  }

  /**
   * Double buffers for each carried pair whose input and output have the same fixed shape, so that
   * the output can be pinned. Closes what it made if one fails.
   */
  private void allocateSlots() throws OrtException {
    Map<String, NodeInfo> inputs = session.getInputInfo();
    Map<String, NodeInfo> outputs = session.getOutputInfo();
    try {
      for (Map.Entry<String, String> c : carry.entrySet()) {
        if (inputs.get(c.getValue()).getInfo() instanceof TensorInfo in
            && outputs.get(c.getKey()).getInfo() instanceof TensorInfo out
            && Arrays.stream(in.getShape()).allMatch(d -> d >= 0)
            && Arrays.equals(in.getShape(), out.getShape())
            && in.type == out.type) {
          slots.put(c.getValue(), new Slots(env, in));
        }
      }
    } catch (OrtException | RuntimeException e) {
      slots.values().forEach(Slots::close);
      slots.clear();
      throw e;
    }
  }

  /** Sets one execution provider's own session options (threads, device, …). */
  @FunctionalInterface
  public interface Provider {
    void configure(OrtSession.SessionOptions options) throws OrtException;
  }

  /**
   * Creates the session with fresh options: ORT's logging at {@link OrtLogging#level()}, {@code
   * provider}'s settings, full graph optimisation, no memory pattern, no prepacked weights for
   * training steps, and for float64 programs the fusions switched off that emit com.microsoft
   * FusedMatMul and QuickGelu, whose kernels are float32 only.
   *
   * @param backend the backend's name, for messages
   */
  public static OrtProgramSession open(String backend, Program program, Provider provider) {
    // Failures reach the caller as exceptions; ORT's own log lines only when asked for.
    OrtLoggingLevel logLevel = OrtLogging.level();
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    try {
      options.setSessionLogLevel(logLevel);
      provider.configure(options);
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      // The memory pattern plans one block per run for all intermediates; without it the arena
      // reuses freed buffers: a Llama-shape LoRA step peaked at 1.13 instead of 1.71 GiB, no
      // slower.
      options.setMemoryPatternOptimization(false);
      if (program.training()) {
        // Prepacking copies every frozen GEMM weight once per node that reads it (forward and
        // backward); without it ONNX Runtime reads the weights where they lie, memory-mapped
        // from the checkpoint. GPT-2 LoRA q,v: peak 2.33 -> 1.73 GiB, 287 vs 284 tokens/s.
        // Generation keeps it: with a few rows per product it ran 1.7x faster prepacked.
        options.addConfigEntry("session.disable_prepacking", "1");
      }
      if (program.dtypes().contains(DType.FLOAT64)) {
        options.addConfigEntry(
            "optimization.disable_specified_optimizers", "MatmulTransposeFusion;QuickGeluFusion");
      }
    } catch (OrtException e) {
      options.close();
      throw failure(backend, "could not set up its session", e);
    }
    return open(backend, program, options);
  }

  /**
   * Creates the session with the caller's options as they are (tests of ORT's behaviour use this).
   * Takes ownership of {@code options}: closed with the session, or at once if creation fails.
   */
  public static OrtProgramSession open(
      String backend, Program program, OrtSession.SessionOptions options) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    Map<String, OnnxTensor> weights = new LinkedHashMap<>();
    try {
      if (program.weightFolder() != null) {
        options.addConfigEntry(
            "session.model_external_initializers_file_folder_path",
            program.weightFolder().toString());
      }
      // ONNX Runtime copies these in when the session is created: hand it the caller's buffers.
      for (Map.Entry<String, HostTensor> w : program.weights().entrySet()) {
        weights.put(w.getKey(), view(env, w.getValue()));
      }
      options.addExternalInitializers(new LinkedHashMap<String, OnnxTensorLike>(weights));
      OrtSession session;
      try (Progress.Task task = Progress.start("starting ONNX Runtime", 0, "")) {
        session = env.createSession(program.onnx(), options);
      }
      OrtProgramSession opened = new OrtProgramSession(backend, env, options, session, program);
      opened.checkCarry();
      try {
        opened.allocateSlots();
      } catch (OrtException | RuntimeException e) {
        opened.close();
        throw e;
      }
      return opened;
    } catch (OrtException e) {
      options.close();
      throw failure(backend, "could not load the program", e);
    } catch (RuntimeException e) {
      options.close();
      throw e;
    } finally {
      // ONNX Runtime copied the weights into the session; the tensors over them can go.
      weights.values().forEach(OnnxTensor::close);
    }
  }

  private void checkCarry() {
    Set<String> inputs = session.getInputNames();
    Set<String> outputs = session.getOutputNames();
    for (Map.Entry<String, String> c : carry.entrySet()) {
      if (!outputs.contains(c.getKey()) || !inputs.contains(c.getValue())) {
        close();
        throw new IllegalArgumentException(
            "The program carries output \""
                + c.getKey()
                + "\" into input \""
                + c.getValue()
                + "\", but the model lacks one of them.");
      }
    }
  }

  @Override
  public void setState(String input, HostTensor value) {
    requireOpen();
    if (!carriedInputs.contains(input)) {
      throw new IllegalArgumentException(
          "\""
              + input
              + "\" is not a carried input of this program; carried inputs: "
              + carriedInputs
              + ".");
    }
    Slots slot = slots.get(input);
    if (slot != null) {
      if (!Arrays.equals(slot.shape, value.shape()) || slot.dtype != value.dtype()) {
        throw new IllegalArgumentException(
            "Carried input \""
                + input
                + "\" is "
                + slot.dtype
                + " "
                + Arrays.toString(slot.shape)
                + ", not "
                + value.dtype()
                + " "
                + Arrays.toString(value.shape())
                + ".");
      }
      ByteBuffer target = slot.buffers[slot.current].duplicate().clear();
      target.put(value.data());
      slot.set = true;
      return;
    }
    OnnxTensor tensor;
    try {
      tensor = tensor(env, value);
    } catch (OrtException e) {
      throw failure(backend, "could not create tensor \"" + input + "\"", e);
    }
    OnnxTensor old = state.put(input, tensor);
    release(old);
    ownedState.add(tensor);
  }

  @Override
  public HostTensor state(String input) {
    requireOpen();
    Slots slot = slots.get(input);
    OnnxTensor tensor = slot != null && slot.set ? slot.input() : state.get(input);
    if (tensor == null) {
      throw new IllegalArgumentException(
          "Carried input \"" + input + "\" has no value; call setState first.");
    }
    return host(tensor);
  }

  @Override
  public Map<String, HostTensor> run(Map<String, HostTensor> feeds, Set<String> fetch) {
    requireOpen();
    for (String input : carriedInputs) {
      Slots slot = slots.get(input);
      if (slot != null ? !slot.set : !state.containsKey(input)) {
        throw new IllegalArgumentException(
            "Carried input \"" + input + "\" has no value; call setState first.");
      }
    }
    Map<String, OnnxTensor> fed = new HashMap<>();
    try {
      Map<String, OnnxTensor> inputs = new HashMap<>(state);
      Map<String, OnnxTensor> pinned = new HashMap<>();
      slots.forEach((input, slot) -> inputs.put(input, slot.input()));
      carry.forEach(
          (output, input) -> {
            if (slots.containsKey(input)) {
              pinned.put(output, slots.get(input).output());
            }
          });
      for (Map.Entry<String, HostTensor> f : feeds.entrySet()) {
        if (!session.getInputNames().contains(f.getKey()) || carriedInputs.contains(f.getKey())) {
          throw new IllegalArgumentException(
              "\""
                  + f.getKey()
                  + "\" is not a per-run input of this program; it takes: "
                  + perRunInputs()
                  + ".");
        }
        OnnxTensor t = view(env, f.getValue()); // read during this run only
        fed.put(f.getKey(), t);
        inputs.put(f.getKey(), t);
      }
      Set<String> missing = new LinkedHashSet<>(perRunInputs());
      missing.removeAll(feeds.keySet());
      if (!missing.isEmpty()) {
        throw new IllegalArgumentException("Missing inputs " + missing + " for this run.");
      }
      Set<String> requested = new LinkedHashSet<>(fetch);
      requested.addAll(carry.keySet());
      requested.removeAll(pinned.keySet());
      OrtSession.Result result = session.run(inputs, requested, pinned);
      Map<String, HostTensor> fetched = new LinkedHashMap<>();
      for (String name : fetch) {
        OnnxTensor out = pinned.get(name);
        fetched.put(name, host(out != null ? out : (OnnxTensor) result.get(name).orElseThrow()));
      }
      for (Map.Entry<String, String> c : carry.entrySet()) {
        Slots slot = slots.get(c.getValue());
        if (slot != null) {
          slot.current = 1 - slot.current;
        } else {
          OnnxTensor produced = (OnnxTensor) result.get(c.getKey()).orElseThrow();
          release(state.put(c.getValue(), produced));
        }
      }
      if (lastRun != null) {
        lastRun.close();
      }
      lastRun = result;
      return fetched;
    } catch (OrtException e) {
      throw failure(backend, "failed to run the program", e);
    } finally {
      fed.values().forEach(OnnxTensor::close);
    }
  }

  private Set<String> perRunInputs() {
    Set<String> inputs = new LinkedHashSet<>(session.getInputNames());
    inputs.removeAll(carriedInputs);
    return inputs;
  }

  /**
   * Closes a replaced state tensor if this session made it; run-produced ones go with their run.
   */
  private void release(OnnxTensor old) {
    if (old != null && ownedState.remove(old)) {
      old.close();
    }
  }

  /** How many sessions of {@code backend} are open now (opened and not yet closed). */
  public static int openSessions(String backend) {
    AtomicInteger n = OPEN.get(backend);
    return n == null ? 0 : n.get();
  }

  private void requireOpen() {
    if (closed) {
      throw new IllegalStateException("This " + backend + " session is closed.");
    }
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    OPEN.get(backend).decrementAndGet();
    slots.values().forEach(Slots::close);
    slots.clear();
    ownedState.forEach(OnnxTensor::close);
    ownedState.clear();
    state.clear();
    if (lastRun != null) {
      lastRun.close();
      lastRun = null;
    }
    try {
      session.close();
    } catch (OrtException e) {
      throw failure(backend, "could not close its session", e);
    } finally {
      options.close();
    }
  }

  /**
   * A tensor over {@code t}'s own bytes where they are direct and in native order (no copy: the
   * caller's buffer must not change while the tensor is in use), else over a copy.
   */
  private static OnnxTensor view(OrtEnvironment env, HostTensor t) throws OrtException {
    ByteBuffer data = t.data();
    if (!data.isDirect() || data.order() != ByteOrder.nativeOrder()) {
      return tensor(env, t);
    }
    return OnnxTensor.createTensor(env, data, t.shape(), javaType(t.dtype()));
  }

  /** A tensor over a copy of {@code t}'s bytes, which it owns. */
  private static OnnxTensor tensor(OrtEnvironment env, HostTensor t) throws OrtException {
    ByteBuffer data =
        ByteBuffer.allocateDirect(t.data().remaining()).order(ByteOrder.nativeOrder());
    data.put(t.data()).flip();
    return OnnxTensor.createTensor(env, data, t.shape(), javaType(t.dtype()));
  }

  private static HostTensor host(OnnxTensor tensor) {
    DType dtype = dtype(tensor.getInfo().type);
    ByteBuffer bytes = tensor.getByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    return new HostTensor(dtype, tensor.getInfo().getShape(), bytes);
  }

  private static OnnxJavaType javaType(DType dtype) {
    return switch (dtype) {
      case FLOAT32 -> OnnxJavaType.FLOAT;
      case FLOAT64 -> OnnxJavaType.DOUBLE;
      case FLOAT16 -> OnnxJavaType.FLOAT16;
      case BFLOAT16 -> OnnxJavaType.BFLOAT16;
      case INT64 -> OnnxJavaType.INT64;
      case INT32 -> OnnxJavaType.INT32;
      case UINT8 -> OnnxJavaType.UINT8;
      case INT8 -> OnnxJavaType.INT8;
      case BOOL -> OnnxJavaType.BOOL;
    };
  }

  private static DType dtype(OnnxJavaType type) {
    return switch (type) {
      case FLOAT -> DType.FLOAT32;
      case DOUBLE -> DType.FLOAT64;
      case FLOAT16 -> DType.FLOAT16;
      case BFLOAT16 -> DType.BFLOAT16;
      case INT64 -> DType.INT64;
      case INT32 -> DType.INT32;
      case UINT8 -> DType.UINT8;
      case INT8 -> DType.INT8;
      case BOOL -> DType.BOOL;
      default ->
          throw new IllegalArgumentException(
              "ONNX Runtime returned a " + type + " tensor, which Graft does not use.");
    };
  }

  private static BackendException failure(String backend, String what, OrtException e) {
    return new BackendException(
        "The " + backend + " backend " + what + ": " + e.getMessage(),
        String.valueOf(e.getCode()),
        e);
  }
}
