package dev.graft.example.embedding;

import dev.graft.api.MethodRegistry;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobStatus;
import dev.graft.api.train.TrainingService;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.jar.Manifest;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.launch.Framework;
import org.osgi.framework.launch.FrameworkFactory;
import org.osgi.util.tracker.ServiceTracker;

/**
 * Graft inside a host application: starts an OSGi framework through the standard launching API
 * ({@link FrameworkFactory}, found with {@link ServiceLoader}), installs Graft's bundles from a
 * folder and hands out Graft's services to plain Java code.
 *
 * <p>The host keeps {@code dev.graft.api} and {@code dev.graft.graph} on its own class path and the
 * framework's system bundle exports their packages (with the versions their manifests declare), so
 * that the services the bundles register are instances of the very interfaces the host calls. The
 * folder therefore holds every other bundle: see the README's "Embedding" section for the minimum
 * set.
 */
public final class EmbeddedGraft implements AutoCloseable {
  /** The bundles whose packages the host shares with the framework from its class path. */
  private static final List<String> SHARED_BUNDLES = List.of("dev.graft.api", "dev.graft.graph");

  private final Framework framework;
  private final List<ServiceTracker<?, ?>> trackers = new ArrayList<>();

  private EmbeddedGraft(Framework framework) {
    this.framework = framework;
  }

  /**
   * Starts a framework, installs every {@code .jar} in {@code bundles} and starts those that are
   * not fragments. The framework keeps its storage in {@code work/framework} (cleaned first) and
   * Graft its job records in {@code work/graft-home} (the {@code graft.home} property).
   *
   * @throws IllegalArgumentException if {@code bundles} holds no jar
   * @throws IllegalStateException if no {@link FrameworkFactory} is on the class path
   * @throws BundleException if a bundle does not install or resolve
   */
  public static EmbeddedGraft start(Path bundles, Path work) throws IOException, BundleException {
    List<Path> jars;
    try (Stream<Path> files = Files.list(bundles)) {
      jars = files.filter(f -> f.toString().endsWith(".jar")).sorted().toList();
    }
    if (jars.isEmpty()) {
      throw new IllegalArgumentException(
          "No bundle in " + bundles + ": put Graft's bundles and their dependencies there.");
    }
    FrameworkFactory factory =
        ServiceLoader.load(FrameworkFactory.class)
            .findFirst()
            .orElseThrow(
                () ->
                    new IllegalStateException(
                        "No OSGi framework on the class path: add one, such as"
                            + " org.apache.felix:org.apache.felix.framework."));
    Map<String, String> config = new HashMap<>();
    config.put(Constants.FRAMEWORK_STORAGE, work.resolve("framework").toString());
    config.put("graft.home", work.resolve("graft-home").toString());
    config.put(Constants.FRAMEWORK_STORAGE_CLEAN, Constants.FRAMEWORK_STORAGE_CLEAN_ONFIRSTINIT);
    config.put(Constants.FRAMEWORK_SYSTEMPACKAGES_EXTRA, sharedPackages());
    Framework framework = factory.newFramework(config);
    framework.start();
    try {
      BundleContext context = framework.getBundleContext();
      List<Bundle> installed = new ArrayList<>();
      for (Path jar : jars) {
        installed.add(context.installBundle(jar.toUri().toString()));
      }
      for (Bundle bundle : installed) {
        if (bundle.getHeaders().get(Constants.FRAGMENT_HOST) == null) {
          bundle.start();
        }
      }
    } catch (BundleException | RuntimeException e) {
      stop(framework);
      throw e;
    }
    return new EmbeddedGraft(framework);
  }

  /**
   * The Export-Package headers of the shared bundles, read from their manifests on the class path.
   */
  private static String sharedPackages() throws IOException {
    Map<String, String> exports = new HashMap<>();
    Enumeration<URL> manifests =
        EmbeddedGraft.class.getClassLoader().getResources("META-INF/MANIFEST.MF");
    while (manifests.hasMoreElements()) {
      try (InputStream in = manifests.nextElement().openStream()) {
        var attributes = new Manifest(in).getMainAttributes();
        String name = attributes.getValue(Constants.BUNDLE_SYMBOLICNAME);
        if (name != null && SHARED_BUNDLES.contains(name.split(";")[0].trim())) {
          exports.put(name, attributes.getValue(Constants.EXPORT_PACKAGE));
        }
      }
    }
    if (exports.size() != SHARED_BUNDLES.size()) {
      throw new IllegalStateException(
          "The host's class path lacks "
              + SHARED_BUNDLES.stream().filter(b -> !exports.containsKey(b)).toList()
              + ": add dev.graft:dev.graft.api (it brings dev.graft.graph) to it.");
    }
    return String.join(",", exports.values());
  }

  /**
   * The service of this type, waiting up to {@code timeout} for a bundle to register it.
   *
   * @throws IllegalStateException if none is registered in time
   */
  public <T> T service(Class<T> type, Duration timeout) throws InterruptedException {
    ServiceTracker<T, T> tracker = new ServiceTracker<>(framework.getBundleContext(), type, null);
    tracker.open();
    trackers.add(tracker);
    T service = tracker.waitForService(timeout.toMillis());
    if (service == null) {
      throw new IllegalStateException(
          "No "
              + type.getName()
              + " service within "
              + timeout.toSeconds()
              + " s: check that the bundle folder holds the bundles the README names.");
    }
    return service;
  }

  /**
   * Submits a job and waits for it to end, printing a line for every step it sees and the job's
   * final state.
   */
  public static Job train(TrainingService training, Map<String, String> spec, PrintStream out)
      throws InterruptedException {
    Job job = training.submit(spec);
    long printed = 0;
    JobStatus status = job.status();
    while (!status.state().isFinal()) {
      if (status.step() > printed) {
        printed = status.step();
        out.printf("step %d/%d loss %.4f%n", status.step(), status.totalSteps(), status.loss());
      }
      Thread.sleep(10);
      status = job.status();
    }
    out.printf(
        "job %s %s after %d/%d steps, loss %.4f%s%n",
        job.id(),
        status.state(),
        status.step(),
        status.totalSteps(),
        status.loss(),
        status.message().isEmpty() ? "" : ": " + status.message());
    return job;
  }

  /** Releases the services handed out and stops the framework, waiting for it to stop. */
  @Override
  public void close() {
    trackers.forEach(ServiceTracker::close);
    stop(framework);
  }

  private static void stop(Framework framework) {
    try {
      framework.stop();
      framework.waitForStop(30_000);
    } catch (BundleException e) {
      throw new IllegalStateException("The framework did not stop: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Trains a short LoRA job from Java: {@code java ... EmbeddedGraft <bundle-folder> <model-folder>
   * <work-folder> [steps]}. Prints the methods Graft offers, then the loss of each step.
   */
  public static void main(String[] args) throws Exception {
    if (args.length < 3 || args.length > 4) {
      throw new IllegalArgumentException(
          "Usage: EmbeddedGraft <bundle-folder> <model-folder> <work-folder> [steps].");
    }
    Path work = Path.of(args[2]).toAbsolutePath();
    Files.createDirectories(work);
    try (EmbeddedGraft graft = start(Path.of(args[0]), work)) {
      Duration timeout = Duration.ofSeconds(30);
      MethodRegistry methods = graft.service(MethodRegistry.class, timeout);
      System.out.println(
          "methods: "
              + methods.methods().stream()
                  .map(m -> m.info().name().toString())
                  .collect(Collectors.joining(", ")));
      Job job =
          train(
              graft.service(TrainingService.class, timeout),
              loraJob(Path.of(args[1]), work, args.length == 4 ? args[3] : "5"),
              System.out);
      System.out.println("output: " + job.outputDirectory());
    }
  }

  /** A LoRA job on a two-line dataset that it writes into {@code work}. */
  static Map<String, String> loraJob(Path model, Path work, String steps) throws IOException {
    Path data = work.resolve("data.jsonl");
    Files.writeString(
        data,
        "{\"text\": \"Once upon a time, there was a little dog named Max.\"}\n"
            + "{\"text\": \"Lily had a red ball. She threw it to Tom.\"}\n");
    return Map.of(
        "model", model.toAbsolutePath().toString(),
        "method", "lora",
        "lora.r", "4",
        "data", data.toString(),
        "max_steps", steps,
        "per_device_train_batch_size", "2",
        "max_length", "32",
        "learning_rate", "1e-3",
        "seed", "5",
        "output_dir", work.resolve("out").toString());
  }
}
