package dev.graft.model.impl;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import com.hubspot.jinjava.el.ext.NamedParameterOperator;
import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner;
import jinjava.de.odysseus.el.tree.impl.ast.AstBracket;
import jinjava.de.odysseus.el.tree.impl.ast.AstNested;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.javax.el.ELContext;

/**
 * Jinjava's expression parser with the two Python behaviours Hugging Face chat templates rely on
 * and Jinjava lacks: keyword arguments take a whole expression ({@code namespace(i=xs|length - 1)}
 * is {@code i=(xs|length - 1)}, not {@code (i=xs|length) - 1}), and extended slices with a step
 * ({@code messages[::-1]}).
 */
final class JinjaParser extends ExtendedParser {

  /** The tree builder that makes this parser. */
  static final class SyntaxBuilder extends ExtendedSyntaxBuilder {
    private static final long serialVersionUID = 1L;

    /** With the features Jinjava's own factory enables (JUEL's JEE6 profile). */
    SyntaxBuilder() {
      super(Builder.Feature.METHOD_INVOCATIONS, Builder.Feature.VARARGS);
    }

    @Override
    protected Parser createParser(String expression) {
      return new JinjaParser(this, expression);
    }
  }

  /** Step expressions of {@code [::step]} brackets being parsed. */
  private final Set<AstNode> steps = Collections.newSetFromMap(new IdentityHashMap<>());

  private JinjaParser(Builder context, String input) {
    super(context, input);
    Parser.ExtensionHandler named = NamedParameterOperator.HANDLER;
    putExtensionHandler(
        NamedParameterOperator.TOKEN,
        new ExtensionHandler(ExtensionPoint.OR) {
          @Override
          public AstNode createAstNode(AstNode... children) {
            return named.createAstNode(children);
          }
        });
  }

  /** Inside brackets, {@code ::step} parses as a marked step expression. */
  @Override
  protected AstNode expr(boolean required) throws Scanner.ScanException, Parser.ParseException {
    if (!required && isColon(getToken()) && isColon(lookahead(0))) {
      consumeToken();
      consumeToken();
      AstNode step = new AstNested(super.expr(true));
      steps.add(step);
      return step;
    }
    return super.expr(required);
  }

  private static boolean isColon(Scanner.Token token) {
    return token.getSymbol() == Scanner.Symbol.COLON && token.getImage().equals(":");
  }

  @Override
  protected AstBracket createAstBracket(
      AstNode base, AstNode property, boolean lvalue, boolean strict) {
    return steps.contains(property)
        ? new StepSlice(base, property)
        : super.createAstBracket(base, property, lvalue, strict);
  }

  /** {@code seq[::step]} for lists, arrays and strings, with Python's semantics. */
  private static final class StepSlice extends AstBracket {

    StepSlice(AstNode base, AstNode step) {
      super(base, step, false, false);
    }

    @Override
    public Object eval(Bindings bindings, ELContext context) {
      Object base = prefix.eval(bindings, context);
      Object stepValue = property.eval(bindings, context);
      if (!(stepValue instanceof Number) || ((Number) stepValue).intValue() == 0) {
        throw new IllegalArgumentException("slice step must be a non-zero integer: " + stepValue);
      }
      int step = ((Number) stepValue).intValue();
      if (base instanceof String s) {
        int[] cps = s.codePoints().toArray();
        StringBuilder out = new StringBuilder();
        for (int i = step > 0 ? 0 : cps.length - 1; i >= 0 && i < cps.length; i += step) {
          out.appendCodePoint(cps[i]);
        }
        return out.toString();
      }
      List<Object> items = new ArrayList<>();
      if (base instanceof Iterable<?> it) {
        it.forEach(items::add);
      } else if (base != null && base.getClass().isArray()) {
        for (int i = 0; i < Array.getLength(base); i++) {
          items.add(Array.get(base, i));
        }
      } else {
        return null;
      }
      List<Object> out = new ArrayList<>();
      for (int i = step > 0 ? 0 : items.size() - 1; i >= 0 && i < items.size(); i += step) {
        out.add(items.get(i));
      }
      return out;
    }
  }
}
