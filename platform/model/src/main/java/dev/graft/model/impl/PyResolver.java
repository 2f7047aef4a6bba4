package dev.graft.model.impl;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python {@code str} and {@code dict} methods that chat templates call ({@code
 * content.strip('\n')}, {@code m.get('tool_calls', [])}, {@code 'x'[0]} …), which Java's String and
 * Map lack. Everything else falls through to Jinjava's own resolvers.
 */
final class PyResolver extends ELResolver {

  @Override
  public Object getValue(ELContext context, Object base, Object property) {
    if (base instanceof String s && property instanceof Number n) {
      int[] cps = s.codePoints().toArray();
      int i = n.intValue() < 0 ? cps.length + n.intValue() : n.intValue();
      context.setPropertyResolved(true);
      return i >= 0 && i < cps.length ? new String(cps, i, 1) : null;
    }
    return null;
  }

  @Override
  public Object invoke(
      ELContext context, Object base, Object method, Class<?>[] types, Object[] params) {
    Object[] p = params == null ? new Object[0] : params;
    Object result;
    if (base instanceof String s) {
      result = stringMethod(s, String.valueOf(method), p);
    } else if (base instanceof Map<?, ?> m) {
      result = mapMethod(m, String.valueOf(method), p);
    } else {
      return null;
    }
    if (result != NONE) {
      context.setPropertyResolved(true);
      return result;
    }
    return null;
  }

  /** Marks "not a method handled here". */
  private static final Object NONE = new Object();

  private static Object stringMethod(String s, String method, Object[] p) {
    String a0 = p.length > 0 && p[0] != null ? String.valueOf(p[0]) : null;
    switch (method) {
      case "strip":
        return strip(strip(s, a0, true), a0, false);
      case "lstrip":
        return strip(s, a0, true);
      case "rstrip":
        return strip(s, a0, false);
      case "startswith":
      case "endswith":
        for (Object prefix : p.length > 0 && p[0] instanceof Collection<?> c ? c : List.of(a0)) {
          String x = String.valueOf(prefix);
          if (method.equals("startswith") ? s.startsWith(x) : s.endsWith(x)) {
            return true;
          }
        }
        return false;
      case "split":
        return split(s, a0, p.length > 1 ? ((Number) p[1]).intValue() : -1);
      case "upper":
        return s.toUpperCase(Locale.ROOT);
      case "lower":
        return s.toLowerCase(Locale.ROOT);
      case "title":
        return title(s);
      case "capitalize":
        return s.isEmpty()
            ? s
            : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
      case "replace":
        if (p.length == 2) {
          return s.replace(a0, String.valueOf(p[1]));
        }
        return NONE;
      case "find":
        return s.indexOf(a0);
      case "count":
        return a0.isEmpty()
            ? s.length() + 1
            : s.split(java.util.regex.Pattern.quote(a0), -1).length - 1;
      case "join":
        List<String> parts = new ArrayList<>();
        ((Iterable<?>) p[0]).forEach(x -> parts.add(String.valueOf(x)));
        return String.join(s, parts);
      default:
        return NONE;
    }
  }

  private static Object mapMethod(Map<?, ?> m, String method, Object[] p) {
    switch (method) {
      case "get":
        return m.containsKey(p[0]) ? m.get(p[0]) : p.length > 1 ? p[1] : null;
      case "items":
        List<List<Object>> items = new ArrayList<>();
        m.forEach((k, v) -> items.add(java.util.Arrays.asList(k, v)));
        return items;
      case "keys":
        return new ArrayList<>(m.keySet());
      case "values":
        return new ArrayList<>(m.values());
      default:
        return NONE;
    }
  }

  /** Python's strip family: whitespace when chars is null, else any of chars. */
  private static String strip(String s, String chars, boolean left) {
    int b = 0;
    int e = s.length();
    if (left) {
      while (b < e && stripped(s.charAt(b), chars)) {
        b++;
      }
    } else {
      while (e > b && stripped(s.charAt(e - 1), chars)) {
        e--;
      }
    }
    return s.substring(b, e);
  }

  private static boolean stripped(char c, String chars) {
    return chars == null
        ? Character.isWhitespace(c) || Character.isSpaceChar(c)
        : chars.indexOf(c) >= 0;
  }

  /** Python's str.split: on runs of whitespace without sep, else on each sep. */
  private static List<String> split(String s, String sep, int maxSplit) {
    List<String> out = new ArrayList<>();
    if (sep == null) {
      String rest = strip(s, null, true);
      while (!rest.isEmpty()) {
        if (maxSplit >= 0 && out.size() == maxSplit) {
          out.add(strip(rest, null, false));
          return out;
        }
        int i = 0;
        while (i < rest.length() && !stripped(rest.charAt(i), null)) {
          i++;
        }
        out.add(rest.substring(0, i));
        rest = strip(rest.substring(i), null, true);
      }
      return out;
    }
    int from = 0;
    for (int i = s.indexOf(sep);
        i >= 0 && (maxSplit < 0 || out.size() < maxSplit);
        i = s.indexOf(sep, from)) {
      out.add(s.substring(from, i));
      from = i + sep.length();
    }
    out.add(s.substring(from));
    return out;
  }

  private static String title(String s) {
    StringBuilder b = new StringBuilder(s.length());
    boolean prevCased = false;
    for (char c : s.toCharArray()) {
      b.append(prevCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
      prevCased = Character.isLetter(c);
    }
    return b.toString();
  }

  @Override
  public Class<?> getCommonPropertyType(ELContext context, Object base) {
    return null;
  }

  @Override
  public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
    return null;
  }

  @Override
  public Class<?> getType(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public boolean isReadOnly(ELContext context, Object base, Object property) {
    return true;
  }

  @Override
  public void setValue(ELContext context, Object base, Object property, Object value) {}
}
