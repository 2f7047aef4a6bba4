package dev.graft.train.run;

import dev.graft.api.backend.HostTensor;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;

/**
 * ONNX Runtime's LoRA adapter file ({@code .onnx_adapter}, ORT 1.20 and later): a FlatBuffer of the
 * schema {@code onnxruntime.adapters} (onnxruntime/lora/adapter_format/adapter_schema.fbs), file
 * identifier {@code TORT}, root table {@code Adapter { format_version, adapter_version,
 * model_version, parameters: [Parameter] }} with {@code Parameter { name, dims: [int64], data_type,
 * raw_data: [uint8] (force_align 8) }}. A run with the adapter active feeds each parameter to the
 * model input of its name ({@code OrtLoraAdapter}, {@code RunOptions.addActiveLoraAdapter}).
 *
 * <p>Written front to back: every offset points forward, as FlatBuffers' unsigned offsets must;
 * only a table's signed offset to its vtable points back.
 */
final class OnnxAdapterFile {
  /** The adapter file's name in an export. */
  static final String FILE = "adapter.onnx_adapter";

  /** The only format version ORT reads ({@code kAdapterFormatVersion}). */
  private static final int FORMAT_VERSION = 1;

  private byte[] buf = new byte[1024];
  private int size;

  private OnnxAdapterFile() {}

  /** The file's bytes for these parameters (little-endian raw data, as ONNX's). */
  static byte[] of(Map<String, HostTensor> parameters) {
    OnnxAdapterFile f = new OnnxAdapterFile();
    f.u32(0); // root offset, set below
    f.put("TORT".getBytes(StandardCharsets.US_ASCII));
    // Adapter: format_version, adapter_version, model_version at 4, 8, 12; parameters at 16.
    int adapter = f.table(4 * 5, 4, 8, 12, 16);
    f.set(0, adapter);
    f.i32(FORMAT_VERSION);
    f.i32(0);
    f.i32(0);
    int vectorField = f.u32(0);
    f.align(4, 0);
    f.point(vectorField, f.u32(parameters.size()));
    int slots = f.size;
    for (int i = 0; i < parameters.size(); i++) {
      f.u32(0);
    }
    int i = 0;
    for (Map.Entry<String, HostTensor> p : parameters.entrySet()) {
      // Parameter: name at 4, dims at 8, data_type at 12, raw_data at 16.
      int table = f.table(4 * 5, 4, 8, 12, 16);
      f.point(slots + 4 * i++, table);
      int name = f.u32(0);
      int dims = f.u32(0);
      f.i32(p.getValue().dtype().onnxCode());
      int raw = f.u32(0);
      byte[] text = p.getKey().getBytes(StandardCharsets.UTF_8);
      f.align(4, 0);
      f.point(name, f.u32(text.length));
      f.put(text);
      f.put(new byte[1]); // a string ends with a zero byte
      long[] shape = p.getValue().shape();
      f.align(8, 4); // int64 elements on 8 bytes, after the 4-byte length
      f.point(dims, f.u32(shape.length));
      for (long d : shape) {
        f.u32((int) d);
        f.u32((int) (d >>> 32));
      }
      ByteBuffer data = p.getValue().data();
      f.align(8, 4); // raw_data's force_align 8
      f.point(raw, f.u32(data.remaining()));
      byte[] bytes = new byte[data.remaining()];
      data.get(bytes);
      f.put(bytes);
    }
    return Arrays.copyOf(f.buf, f.size);
  }

  /**
   * Writes a vtable for a table of {@code tableSize} bytes with fields at {@code offsets}, then the
   * table's offset to it; returns where the table starts.
   */
  private int table(int tableSize, int... offsets) {
    align(4, 0);
    int vtable = size;
    u16(4 + 2 * offsets.length);
    u16(tableSize);
    for (int o : offsets) {
      u16(o);
    }
    align(4, 0);
    int table = size;
    i32(table - vtable);
    return table;
  }

  /** Pads with zeros until {@code size + shift} is a multiple of {@code alignment}. */
  private void align(int alignment, int shift) {
    while ((size + shift) % alignment != 0) {
      put(new byte[1]);
    }
  }

  /** Sets the offset field at {@code field} to point at {@code target}. */
  private void point(int field, int target) {
    set(field, target - field);
  }

  /** Writes an unsigned 32-bit value; returns where it lies. */
  private int u32(int v) {
    return i32(v);
  }

  private int i32(int v) {
    int at = size;
    put(new byte[4]);
    set(at, v);
    return at;
  }

  private void u16(int v) {
    put(new byte[] {(byte) v, (byte) (v >>> 8)});
  }

  private void set(int at, int v) {
    for (int b = 0; b < 4; b++) {
      buf[at + b] = (byte) (v >>> (8 * b));
    }
  }

  private void put(byte[] bytes) {
    if (size + bytes.length > buf.length) {
      buf = Arrays.copyOf(buf, Math.max(buf.length * 2, size + bytes.length));
    }
    System.arraycopy(bytes, 0, buf, size, bytes.length);
    size += bytes.length;
  }
}
