package dev.graft.karaf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The built features.xml lists exactly this module's runtime dependencies, at their versions. */
class FeatureRepositoryTest {
  private static final Pattern BUNDLE = Pattern.compile("<bundle[^>]*>mvn:([^<]+)</bundle>");

  /**
   * The bundles of the feature, as repository paths ({@code group/as/folders/artifact/version}).
   */
  static Set<String> featureBundles(Path features) throws Exception {
    Set<String> bundles = new TreeSet<>();
    Matcher m = BUNDLE.matcher(Files.readString(features));
    while (m.find()) {
      String[] gav = m.group(1).split("/");
      bundles.add(gav[0].replace('.', '/') + "/" + gav[1] + "/" + gav[2]);
    }
    return bundles;
  }

  @Test
  void theFeatureListsTheModulesRuntimeDependencies() throws Exception {
    Path features = Path.of(System.getProperty("graft.features"));
    String text = Files.readString(features);
    assertFalse(text.contains("${"), "features.xml was not filtered: " + text);
    Path repository = Path.of(System.getProperty("graft.repository"));
    Set<String> copied;
    try (Stream<Path> files = Files.walk(repository)) {
      copied =
          files
              .filter(f -> f.toString().endsWith(".jar"))
              .map(f -> repository.relativize(f.getParent()).toString().replace('\\', '/'))
              .collect(Collectors.toCollection(TreeSet::new));
    }
    assertEquals(copied, featureBundles(features));
  }
}
