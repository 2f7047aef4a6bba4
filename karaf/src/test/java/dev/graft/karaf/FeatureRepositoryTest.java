package dev.graft.karaf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The built features.xml lists exactly this module's runtime dependencies, at their versions, and
 * is published under the {@code mvn:} URL that {@code feature:repo-add} takes.
 */
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

  /**
   * {@code mvn:group/artifact/version/xml/features} names the attached artifact, which the build
   * resolved into the repository that KarafShellTest gives Karaf, at the path that URL names.
   */
  @Test
  void theMvnUrlNamesTheAttachedFeatureRepository() throws Exception {
    String[] gav = System.getProperty("graft.features.url").substring("mvn:".length()).split("/");
    assertEquals(List.of("xml", "features"), List.of(gav[3], gav[4]));
    Path published =
        Path.of(System.getProperty("graft.repository"))
            .resolve(gav[0].replace('.', '/'))
            .resolve(gav[1])
            .resolve(gav[2])
            .resolve(gav[1] + "-" + gav[2] + "-features.xml");
    assertEquals(-1, Files.mismatch(published, Path.of(System.getProperty("graft.features"))));
  }
}
