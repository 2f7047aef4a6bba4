package dev.graft.graph;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small protobuf reader for tests: parses ModelProto bytes back into nodes, initializers and I/O.
 */
public final class OnnxReader {
  /**
   * One decoded protobuf message: field number to its values (Long, Integer for fixed32, byte[]).
   */
  record Msg(Map<Integer, List<Object>> fields) {
    static Msg parse(byte[] b) {
      Map<Integer, List<Object>> f = new LinkedHashMap<>();
      int[] pos = {0};
      while (pos[0] < b.length) {
        long tag = varint(b, pos);
        int field = (int) (tag >>> 3);
        Object v =
            switch ((int) (tag & 7)) {
              case 0 -> varint(b, pos);
              case 5 -> {
                int x =
                    (b[pos[0]] & 0xFF)
                        | (b[pos[0] + 1] & 0xFF) << 8
                        | (b[pos[0] + 2] & 0xFF) << 16
                        | (b[pos[0] + 3] & 0xFF) << 24;
                pos[0] += 4;
                yield x;
              }
              case 2 -> {
                int len = (int) varint(b, pos);
                byte[] sub = java.util.Arrays.copyOfRange(b, pos[0], pos[0] + len);
                pos[0] += len;
                yield sub;
              }
              default -> throw new IllegalArgumentException("Unsupported wire type in tag " + tag);
            };
        f.computeIfAbsent(field, k -> new ArrayList<>()).add(v);
      }
      return new Msg(f);
    }

    private static long varint(byte[] b, int[] pos) {
      long v = 0;
      for (int shift = 0; ; shift += 7) {
        byte x = b[pos[0]++];
        v |= (long) (x & 0x7F) << shift;
        if ((x & 0x80) == 0) {
          return v;
        }
      }
    }

    List<Object> all(int field) {
      return fields.getOrDefault(field, List.of());
    }

    long num(int field) {
      return (Long) all(field).get(0);
    }

    String str(int field) {
      return all(field).isEmpty()
          ? ""
          : new String((byte[]) all(field).get(0), StandardCharsets.UTF_8);
    }

    List<String> strs(int field) {
      return all(field).stream().map(o -> new String((byte[]) o, StandardCharsets.UTF_8)).toList();
    }

    List<Msg> msgs(int field) {
      return all(field).stream().map(o -> Msg.parse((byte[]) o)).toList();
    }
  }

  public record NodeInfo(
      String op, List<String> inputs, List<String> outputs, Map<String, Msg> attributes) {}

  record TensorInfo(
      String name,
      int dataType,
      long[] dims,
      byte[] raw,
      boolean external,
      Map<String, String> externalData) {}

  /**
   * A graph input or output: name, elem type, and per dim a Long (dim_value) or String (dim_param).
   */
  record ValueInfo(String name, int elemType, List<Object> dims) {}

  final long irVersion;
  final long opset;
  public final List<NodeInfo> nodes = new ArrayList<>();
  final List<TensorInfo> initializers = new ArrayList<>();
  final List<ValueInfo> inputs = new ArrayList<>();
  final List<ValueInfo> outputs = new ArrayList<>();

  public OnnxReader(byte[] model) {
    this(Msg.parse(model));
  }

  private OnnxReader(Msg m) {
    this(m.num(1), m.msgs(8).get(0).num(2), m.msgs(7).get(0));
  }

  private OnnxReader(long irVersion, long opset, Msg g) {
    this.irVersion = irVersion;
    this.opset = opset;
    for (Msg n : g.msgs(1)) {
      Map<String, Msg> attrs = new LinkedHashMap<>();
      n.msgs(5).forEach(a -> attrs.put(a.str(1), a));
      nodes.add(new NodeInfo(n.str(4), n.strs(1), n.strs(2), attrs));
    }
    for (Msg t : g.msgs(5)) {
      Map<String, String> ext = new LinkedHashMap<>();
      t.msgs(13).forEach(e -> ext.put(e.str(1), e.str(2)));
      long[] dims = t.all(1).stream().mapToLong(o -> (Long) o).toArray();
      byte[] raw = t.all(9).isEmpty() ? null : (byte[]) t.all(9).get(0);
      boolean external = !t.all(14).isEmpty() && t.num(14) == 1;
      initializers.add(new TensorInfo(t.str(8), (int) t.num(2), dims, raw, external, ext));
    }
    g.msgs(11).forEach(v -> inputs.add(valueInfo(v)));
    g.msgs(12).forEach(v -> outputs.add(valueInfo(v)));
  }

  private static ValueInfo valueInfo(Msg v) {
    Msg tensor = v.msgs(2).get(0).msgs(1).get(0);
    List<Object> dims = new ArrayList<>();
    for (Msg d : tensor.msgs(2).get(0).msgs(1)) {
      dims.add(d.all(1).isEmpty() ? d.str(2) : (Object) d.num(1));
    }
    return new ValueInfo(v.str(1), (int) tensor.num(1), dims);
  }

  /** The subgraph in a graph attribute of a node (a Loop's {@code body}). */
  OnnxReader subgraph(NodeInfo node, String attribute) {
    return new OnnxReader(irVersion, opset, node.attributes().get(attribute).msgs(6).get(0));
  }

  TensorInfo initializer(String name) {
    return initializers.stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow();
  }

  /**
   * Names that are defined before node {@code i}: inputs, initializers and earlier node outputs.
   */
  List<String> problems() {
    return problems(java.util.Set.of());
  }

  /** As {@link #problems()} for a subgraph that may also read the {@code outer} names. */
  List<String> problems(java.util.Set<String> outer) {
    List<String> problems = new ArrayList<>();
    java.util.Set<String> defined = new java.util.HashSet<>(outer);
    inputs.forEach(v -> defined.add(v.name()));
    initializers.forEach(t -> defined.add(t.name()));
    for (NodeInfo n : nodes) {
      for (String in : n.inputs()) {
        if (!in.isEmpty() && !defined.contains(in)) {
          problems.add(n.op() + " reads " + in + " before it is defined");
        }
      }
      for (String out : n.outputs()) {
        if (!defined.add(out)) {
          problems.add(n.op() + " redefines " + out);
        }
      }
    }
    outputs.forEach(
        o -> {
          if (!defined.contains(o.name())) {
            problems.add("output " + o.name() + " is never produced");
          }
        });
    return problems;
  }
}
