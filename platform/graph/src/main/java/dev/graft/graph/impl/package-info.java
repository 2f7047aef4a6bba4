/**
 * Implementation of the graph package: autodiff, ONNX lowering and the reference kernels. Not
 * exported.
 */
package dev.graft.graph.impl;
