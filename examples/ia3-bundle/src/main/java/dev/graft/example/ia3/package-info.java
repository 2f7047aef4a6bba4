/**
 * (IA)³ as a method bundle that a third party writes against Graft's published API: {@link
 * dev.graft.example.ia3.Ia3Method} is the DS component, {@code Ia3Config} reads its options, {@code
 * Ia3} rewrites the model. Nothing here is exported.
 */
package dev.graft.example.ia3;
