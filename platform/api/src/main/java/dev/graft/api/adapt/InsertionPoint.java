package dev.graft.api.adapt;

/** Places in a transformer block where a method can insert a module (Houlsby adapters). */
public enum InsertionPoint {
  /** After the attention output projection, before the residual addition. */
  AFTER_ATTENTION,
  /** After the MLP's down projection, before the residual addition. */
  AFTER_MLP
}
