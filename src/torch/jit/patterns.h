// The graph-mode patterns of reference §7.5: which ops get quantized and how
// they group. Op types are the canonical ones of graph.h.
#pragma once

#include <set>
#include <string>

#include "torch/jit/graph.h"

namespace coreai_opt::jit_detail {

/// conv{1,2,3}d, conv_transpose{1,2,3}d, linear: the key of a weighted pattern,
/// optionally followed by batch_norm and/or one activation.
inline bool is_weighted(const std::string& t) {
  static const std::set<std::string> k = {
      "conv1d",           "conv2d",           "conv3d", "conv_transpose1d",
      "conv_transpose2d", "conv_transpose3d", "linear"};
  return k.count(t) > 0;
}

/// Activations that fuse into a weighted or n-ary pattern.
inline bool is_fusable_activation(const std::string& t) {
  static const std::set<std::string> k = {
      "relu",       "relu_",       "relu6",       "relu6_",       "leaky_relu", "leaky_relu_",
      "silu",       "silu_",       "elu",         "elu_",         "celu",       "celu_",
      "selu",       "selu_",       "mish",        "mish_",        "hardtanh",   "hardtanh_",
      "hardswish",  "hardswish_",  "hardsigmoid", "hardsigmoid_", "gelu",       "sigmoid",
      "logsigmoid", "log_sigmoid", "tanh"};
  return k.count(t) > 0;
}

/// N-ary ops: every input quantized; all but sub take a trailing activation.
inline bool is_nary(const std::string& t) {
  static const std::set<std::string> k = {"matmul", "add", "add_", "mul", "mul_", "sub", "sub_"};
  return k.count(t) > 0;
}

/// Ops whose output shares the fake-quant of their input (inputs of cat share one).
inline bool is_shared_observer(const std::string& t) {
  static const std::set<std::string> k = {"flatten",
                                          "max_pool1d",
                                          "max_pool2d",
                                          "max_pool3d",
                                          "avg_pool1d",
                                          "avg_pool2d",
                                          "avg_pool3d",
                                          "adaptive_avg_pool1d",
                                          "adaptive_avg_pool2d",
                                          "adaptive_avg_pool3d",
                                          "mean",
                                          "cat",
                                          "concat"};
  return k.count(t) > 0;
}

/// Ops that start a pattern (the ops the inspector lists as compressible).
inline bool is_compressible(const GraphOp& op) {
  return is_weighted(op.type) || op.type == "embedding" || is_nary(op.type) ||
         is_shared_observer(op.type);
}

}  // namespace coreai_opt::jit_detail
