package dev.graft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.model.Evaluation;
import dev.graft.api.model.EvaluationSettings;
import dev.graft.api.model.GenerationSettings;
import dev.graft.api.model.ModelService;
import dev.graft.api.model.ModelSummary;
import dev.graft.api.model.PreferenceEvaluation;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * graft:generate, graft:eval, graft:merge and graft:export hand their arguments to the model
 * service.
 */
class ModelCommandsTest {
  static final Path FORMAT = Path.of("/jobs/1/adapter/graft_sample_format.json");

  /** Records the settings it is given; every folder has the format file {@link #FORMAT}. */
  static final class Recorder implements ModelService {
    GenerationSettings generation;
    EvaluationSettings evaluation;
    String mergedTask;
    Path exportedAdapter;
    boolean onnxAdapterFile;
    String exportedTask;
    String quantised;

    @Override
    public Optional<Path> sampleFormat(Path modelDir, Path adapterDir) {
      return Optional.of(FORMAT);
    }

    @Override
    public ModelSummary inspect(Path modelDir) {
      throw new UnsupportedOperationException();
    }

    @Override
    public String generate(Path m, Path a, String prompt, GenerationSettings settings) {
      generation = settings;
      return " done";
    }

    @Override
    public Path merge(Path modelDir, Path adapterDir, Path outDir) {
      return outDir;
    }

    @Override
    public Path unmerge(Path modelDir, Path adapterDir, Path outDir) {
      return outDir;
    }

    @Override
    public Path merge(Path modelDir, Path adapterDir, Path outDir, String task) {
      mergedTask = task;
      return outDir;
    }

    @Override
    public Path export(
        Path modelDir, Path adapterDir, Path outDir, boolean onnxAdapter, String task) {
      exportedAdapter = adapterDir;
      onnxAdapterFile = onnxAdapter;
      exportedTask = task;
      return outDir;
    }

    @Override
    public Evaluation evaluate(Path m, Path a, Path data, EvaluationSettings settings) {
      evaluation = settings;
      return new Evaluation(1, Math.E, Double.NaN, 1, 1);
    }

    @Override
    public Path quantize(
        Path modelDir, Path outDir, String quantType, boolean doubleQuant, List<String> modules) {
      quantised = quantType + " " + doubleQuant + " " + modules;
      return outDir;
    }

    /** Folders named {@code q4} are 4-bit. */
    @Override
    public Optional<String> quantisation(Path modelDir) {
      return modelDir.toString().equals("q4") ? Optional.of("nf4") : Optional.empty();
    }

    /** Not preference data: graft:eval goes on to {@link #evaluate}. */
    @Override
    public Optional<PreferenceEvaluation> evaluatePreferences(
        Path m, Path a, Path data, EvaluationSettings settings, double beta) {
      return Optional.empty();
    }
  }

  private final Recorder service = new Recorder();
  private final GraftCommands commands = new GraftCommands();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();
  private PrintStream realErr;

  @BeforeEach
  void captureStderr() {
    commands.models = service;
    realErr = System.err;
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @AfterEach
  void restoreStderr() {
    System.setErr(realErr);
  }

  private String stderr() {
    return err.toString(StandardCharsets.UTF_8);
  }

  @Test
  void evalReadsOtherFieldNamesThroughDataColumnsAsAJobDoes() {
    commands.eval(
        "",
        0,
        1024,
        8,
        "auto",
        "prompt=question,completion=answer",
        "cpu",
        false,
        "",
        0.1,
        "m",
        "d");
    assertEquals(
        Map.of("prompt", "question", "completion", "answer"), service.evaluation.dataColumns());
  }

  @Test
  void evalSaysThatTheSavedFormatAppliesAndRawSkipsIt() {
    commands.eval("a", 0, 1024, 8, "auto", "", "cpu", false, "", 0.1, "m", "d");
    assertFalse(service.evaluation.raw());
    assertEquals(
        "graft: samples are put in the sample format saved in " + FORMAT + "; --raw skips it.\n",
        stderr());
    err.reset();
    commands.eval("a", 0, 1024, 8, "auto", "", "cpu", true, "", 0.1, "m", "d");
    assertTrue(service.evaluation.raw());
    assertEquals("", stderr());
  }

  @Test
  void generateSaysThatTheSavedFormatAppliesAndRawSkipsIt() {
    assertEquals(
        "Hi done\n", commands.generate(8, 0, 1, 50, 1, 0, "a", "cpu", false, "", "m", "Hi"));
    assertFalse(service.generation.raw());
    assertTrue(stderr().contains("the prompt is put in the sample format saved in " + FORMAT));
    err.reset();
    commands.generate(8, 0, 1, 50, 1, 0, "a", "cpu", true, "", "m", "Hi");
    assertTrue(service.generation.raw());
    assertEquals("", stderr());
  }

  @Test
  void mergeSaysThatTheMergedFolderCarriesTheFormat() {
    assertEquals(
        "Merged adapter a into m; wrote out, with the sample format graft_sample_format.json that"
            + " generate and eval apply.\n",
        commands.merge(false, "", "m", "a", "out"));
  }

  @Test
  void taskReachesGenerationEvaluationMergingAndExport() {
    commands.generate(8, 0, 1, 50, 1, 0, "a", "cpu", false, "qa", "m", "Hi");
    assertEquals("qa", service.generation.task());
    commands.eval("a", 0, 1024, 8, "auto", "", "cpu", false, "qa", 0.1, "m", "d");
    assertEquals("qa", service.evaluation.task());
    commands.merge(false, "qa", "m", "a", "out");
    assertEquals("qa", service.mergedTask);
    assertEquals(
        "Exported m with adapter a for task qa to out; export.json describes the inputs, outputs"
            + " and cache of model.onnx.\n",
        commands.export("a", false, "qa", "m", "out"));
    assertEquals("qa", service.exportedTask);
  }

  @Test
  void exportPassesTheAdapterOnlyWhenOneIsNamed() {
    assertEquals(
        "Exported m with adapter a to out; export.json describes the inputs, outputs and cache of"
            + " model.onnx.\n",
        commands.export("a", true, "", "m", "out"));
    assertEquals(Path.of("a"), service.exportedAdapter);
    assertTrue(service.onnxAdapterFile);
    assertEquals(
        "Exported m to out; export.json describes the inputs, outputs and cache of model.onnx.\n",
        commands.export("", false, "", "m", "out"));
    assertEquals(null, service.exportedAdapter);
    assertFalse(service.onnxAdapterFile);
  }

  @Test
  void quantizeHandsTypeDoubleQuantAndModulesToTheService() {
    assertEquals(
        "Quantised the linear weights of m to fp4; wrote out. Train it with"
            + " method=qlora,<lora method>.\n",
        commands.quantize("fp4", "false", "q_proj, v_proj", "m", "out"));
    assertEquals("fp4 false [q_proj, v_proj]", service.quantised);
  }

  @Test
  void quantizeRefusesADoubleQuantThatIsNoBoolean() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> commands.quantize("nf4", "yes", "", "m", "out"));
    assertEquals("--double-quant is \"yes\"; use true or false.", e.getMessage());
  }

  @Test
  void mergeIntoAFourBitModelSaysItMergedIntoTheDequantisedWeights() {
    assertTrue(
        commands
            .merge(false, "", "q4", "a", "out")
            .startsWith("Merged adapter a into the dequantised nf4 weights of q4; wrote out"));
  }
}
