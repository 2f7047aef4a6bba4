package dev.graft.model.impl;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.interpret.errorcategory.BasicTemplateErrorCategory;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.lang.reflect.Array;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.tree.TreeStore;
import jinjava.de.odysseus.el.tree.impl.Cache;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ExpressionFactory;

/**
 * Renders Hugging Face chat templates with Jinjava, configured like transformers' Jinja environment
 * ({@code trim_blocks}, {@code lstrip_blocks}, whitespace control on expressions) and extended with
 * what templates use: {@code raise_exception}, {@code strftime_now}, Python's {@code json.dumps} as
 * {@code tojson}, Python string and dict methods, keyword arguments and {@code [::step]} slices.
 */
public final class JinjaEngine {

  /**
   * Bounds on what one rendering may produce: templates come from model folders someone else wrote.
   * A conversation of 16 M characters is far beyond any context length.
   */
  static final long MAX_OUTPUT_CHARS = 16L << 20;

  static final int MAX_LIST_SIZE = 1 << 20;
  static final int MAX_MACRO_DEPTH = 64;

  /**
   * Errors Jinjava reports without stopping that mean a bound was hit and the output is cut; so
   * does a macro recursing deeper than {@link #MAX_MACRO_DEPTH} (category {@code CYCLE_DETECTED}).
   */
  private static final Set<TemplateError.ErrorReason> OVER_BOUNDS =
      EnumSet.of(
          TemplateError.ErrorReason.OUTPUT_TOO_BIG,
          TemplateError.ErrorReason.OVER_LIMIT,
          TemplateError.ErrorReason.COLLECTION_TOO_BIG);

  private static final Jinjava JINJAVA = withOwnClassLoader(JinjaEngine::create);

  private JinjaEngine() {}

  /** Raised by a template's {@code raise_exception(message)}. */
  public static final class TemplateException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    TemplateException(String message) {
      super(message);
    }
  }

  /**
   * Renders {@code template} with {@code variables}.
   *
   * @throws IllegalArgumentException with the template's message when it raises, or the first fatal
   *     error Jinjava reports
   */
  public static String render(String template, Map<String, ?> variables) {
    RenderResult result = withOwnClassLoader(() -> JINJAVA.renderForResult(template, variables));
    for (TemplateError e : result.getErrors()) {
      if (e.getSeverity() == TemplateError.ErrorType.FATAL
          || OVER_BOUNDS.contains(e.getReason())
          || e.getCategory() == BasicTemplateErrorCategory.CYCLE_DETECTED) {
        Throwable cause = e.getException();
        while (cause != null && !(cause instanceof TemplateException)) {
          cause = cause.getCause();
        }
        String message = cause != null ? cause.getMessage() : e.getMessage();
        throw new IllegalArgumentException(
            "chat template: "
                + message
                + (e.getLineno() > 0 ? " (line " + e.getLineno() + ")." : "."));
      }
    }
    return result.getOutput();
  }

  /**
   * Runs {@code action} with this bundle's class loader as the context class loader: Jinjava (and
   * JUEL inside it) load classes by name through it, which in OSGi would not see them otherwise.
   */
  private static <T> T withOwnClassLoader(Supplier<T> action) {
    Thread thread = Thread.currentThread();
    ClassLoader previous = thread.getContextClassLoader();
    thread.setContextClassLoader(JinjaEngine.class.getClassLoader());
    try {
      return action.get();
    } finally {
      thread.setContextClassLoader(previous);
    }
  }

  private static Jinjava create() {
    CompositeELResolver resolver = new CompositeELResolver();
    resolver.add(new PyResolver());
    resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
    JinjavaConfig config =
        JinjavaConfig.newBuilder()
            .withTrimBlocks(true)
            .withLstripBlocks(true)
            .withElResolver(resolver)
            .withMaxOutputSize(MAX_OUTPUT_CHARS)
            .withMaxStringLength(MAX_OUTPUT_CHARS)
            .withMaxListSize(MAX_LIST_SIZE)
            .withMaxMapSize(MAX_LIST_SIZE)
            .withEnableRecursiveMacroCalls(true)
            .withMaxMacroRecursionDepth(MAX_MACRO_DEPTH)
            .withLegacyOverrides(
                LegacyOverrides.newBuilder()
                    .withUseTrimmingForNotesAndExpressions(true)
                    .withUseNaturalOperatorPrecedence(true)
                    .withParseWhitespaceControlStrictly(true)
                    .withKeepNullableLoopValues(true)
                    .build())
            .build();
    ExpressionFactory factory =
        new ExpressionFactoryImpl(
            new TreeStore(new JinjaParser.SyntaxBuilder(), new Cache(1000)),
            new TruthyTypeConverter());
    Jinjava jinjava =
        new Jinjava(config) {
          @Override
          public ExpressionFactory getExpressionFactory() {
            return factory;
          }
        };
    try {
      jinjava.registerFunction(
          new ELFunctionDefinition(
              "", "raise_exception", JinjaEngine.class, "raiseException", String.class));
      jinjava.registerFunction(
          new ELFunctionDefinition(
              "", "strftime_now", JinjaEngine.class, "strftimeNow", String.class));
    } catch (RuntimeException e) {
      throw new IllegalStateException("Cannot register chat template functions", e);
    }
    jinjava.registerFilter(new ToJson());
    return jinjava;
  }

  /** {@code raise_exception(message)}: stops rendering with the template's message. */
  public static String raiseException(String message) {
    throw new TemplateException(message);
  }

  /** {@code strftime_now(format)}: the local time in a Python strftime format. */
  public static String strftimeNow(String format) {
    ZonedDateTime now = ZonedDateTime.now();
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < format.length(); i++) {
      char c = format.charAt(i);
      if (c != '%' || i + 1 == format.length()) {
        out.append(c);
        continue;
      }
      char d = format.charAt(++i);
      boolean pad = true;
      if (d == '-' && i + 1 < format.length()) {
        pad = false;
        d = format.charAt(++i);
      }
      String two = pad ? "%02d" : "%d";
      switch (d) {
        case 'Y' -> out.append(now.getYear());
        case 'y' -> out.append(String.format("%02d", now.getYear() % 100));
        case 'm' -> out.append(String.format(two, now.getMonthValue()));
        case 'd' -> out.append(String.format(two, now.getDayOfMonth()));
        case 'H' -> out.append(String.format(two, now.getHour()));
        case 'I' -> out.append(String.format(two, (now.getHour() + 11) % 12 + 1));
        case 'M' -> out.append(String.format(two, now.getMinute()));
        case 'S' -> out.append(String.format(two, now.getSecond()));
        case 'p' -> out.append(now.getHour() < 12 ? "AM" : "PM");
        case 'B' -> out.append(now.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
        case 'b' -> out.append(now.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
        case 'A' -> out.append(now.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
        case 'a' -> out.append(now.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
        case 'j' -> out.append(String.format(pad ? "%03d" : "%d", now.getDayOfYear()));
        case '%' -> out.append('%');
        default -> out.append('%').append(d);
      }
    }
    return out.toString();
  }

  /**
   * {@code tojson} as transformers defines it: Python's {@code json.dumps(x, ensure_ascii=False,
   * indent=indent)}, so {@code ", "} and {@code ": "} separators, not Jackson's compact form.
   */
  private static final class ToJson implements Filter {

    @Override
    public String getName() {
      return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      return filter(var, interpreter, args, Map.of());
    }

    @Override
    public Object filter(
        Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
      Object indent = kwargs.getOrDefault("indent", args.length > 0 ? args[0] : null);
      StringBuilder out = new StringBuilder();
      write(var, indent == null ? -1 : ((Number) indent).intValue(), 0, out);
      return out.toString();
    }

    private static void write(Object v, int indent, int depth, StringBuilder out) {
      if (v == null) {
        out.append("null");
      } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
        out.append(v);
      } else if (v instanceof Number n) {
        double d = n.doubleValue();
        out.append(d == Math.rint(d) && Math.abs(d) < 1e16 ? (long) d + ".0" : Double.toString(d));
      } else if (v instanceof Map<?, ?> m) {
        container(
            '{',
            '}',
            m.entrySet(),
            indent,
            depth,
            out,
            (e, o) -> {
              quote(String.valueOf(((Map.Entry<?, ?>) e).getKey()), o);
              o.append(": ");
              write(((Map.Entry<?, ?>) e).getValue(), indent, depth + 1, o);
            });
      } else if (v instanceof Iterable<?> it) {
        container('[', ']', it, indent, depth, out, (e, o) -> write(e, indent, depth + 1, o));
      } else if (v.getClass().isArray()) {
        java.util.List<Object> list = new java.util.ArrayList<>();
        for (int i = 0; i < Array.getLength(v); i++) {
          list.add(Array.get(v, i));
        }
        write(list, indent, depth, out);
      } else {
        quote(v.toString(), out);
      }
    }

    private static void container(
        char open,
        char close,
        Iterable<?> items,
        int indent,
        int depth,
        StringBuilder out,
        java.util.function.BiConsumer<Object, StringBuilder> item) {
      out.append(open);
      boolean first = true;
      for (Object e : items) {
        out.append(first ? "" : indent >= 0 ? "," : ", ");
        if (indent >= 0) {
          out.append('\n').append(" ".repeat(indent * (depth + 1)));
        }
        item.accept(e, out);
        first = false;
      }
      if (indent >= 0 && !first) {
        out.append('\n').append(" ".repeat(indent * depth));
      }
      out.append(close);
    }

    private static void quote(String s, StringBuilder out) {
      out.append('"');
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        switch (c) {
          case '"' -> out.append("\\\"");
          case '\\' -> out.append("\\\\");
          case '\n' -> out.append("\\n");
          case '\r' -> out.append("\\r");
          case '\t' -> out.append("\\t");
          case '\b' -> out.append("\\b");
          case '\f' -> out.append("\\f");
          default -> {
            if (c < 0x20) {
              out.append(String.format("\\u%04x", (int) c));
            } else {
              out.append(c);
            }
          }
        }
      }
      out.append('"');
    }
  }
}
