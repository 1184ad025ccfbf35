// Annotation: which fake-quants a config puts where in an analyzed graph
// (reference §3.5-§3.8, §6, §7.5), and their insertion into the graph.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "coreai_opt/quantization/config.h"
#include "coreai_opt/quantization/plan.h"
#include "coreai_opt/quantization/resolution.h"
#include "torch/jit/graph.h"

namespace coreai_opt::jit_detail {

/// A conv/linear + batch_norm pair whose BN scaling is folded into the weight
/// before its fake-quant (the QAT form; finalize() folds it for good).
struct BnFold {
  std::string conv_op;  ///< op name of the conv / linear
  std::string bn_op;    ///< op name of the batch_norm
  std::string bn_module;
  bool transposed = false;  ///< conv_transpose: output channels on weight dim 1
  bool linear = false;
  /// State paths (empty when absent) and the batch norm's eps.
  std::string conv_bias, bn_weight, bn_bias, bn_mean, bn_var;
  double eps = 1e-5;
};

/// One fake-quant: its spec, its role and where its state lives.
struct FqDef {
  std::string name;    ///< unique; buffers are `prefix + field`
  std::string prefix;  ///< `_fq_<name>_`
  quantization::QuantizationSpec spec;
  bool weight = false;
  std::string what;                         ///< for warnings: `weight of odd (linear_8)`
  std::string module;                       ///< canonical module owning it (schedule lookup)
  std::vector<std::string> consumer_types;  ///< weights: op types of the consumers
  at::Tensor weight_tensor;                 ///< weights: the parameter
  std::string weight_path;                  ///< weights: a path of the parameter
  bool skipped = false;                     ///< a block size that does not divide: not inserted
  std::optional<quantization::QATSchedule> schedule;
  std::optional<BnFold> fold;
};

/// A use of a value by an op input (list element for tensor lists).
using UseKey = std::tuple<const Node*, std::size_t, std::size_t>;  // node, input, list index + 1

/// The annotation of one graph.
struct Annotation {
  std::vector<FqDef> fqs;
  std::vector<quantization::PlanPoint> points;
  std::vector<std::optional<std::size_t>> point_fq;
  /// Points whose block size does not divide the example tensor.
  std::vector<quantization::SkippedPoint> skipped;
  std::vector<std::string> warnings;
  std::map<const Value*, std::size_t> value_fq;                 ///< output fake-quants
  std::map<UseKey, std::size_t> input_fq;                       ///< per-use input fake-quants
  std::map<UseKey, const Value*> use_value;                     ///< the raw value of each use
  /// module_input_spec (reference 0.3.0 overwrites the consumer's side of the
  /// edge only): a fake-quant called on what the use reads, so after the
  /// producer's output fake-quant when there is one (two on one edge).
  std::map<UseKey, std::size_t> input_after;
  /// module_output_spec: a fake-quant called on the raw output before its
  /// output fake-quant (a group's instance that the module's spec did not join).
  std::map<const Value*, std::size_t> output_before;
  std::map<std::size_t, std::vector<std::pair<Node*, std::size_t>>>
      state_uses;  ///< weight fq -> uses
  /// Output fake-quants applied through a view of another rank (the rank of the
  /// tensors the fake-quant was first used on; per-tensor only).
  std::map<const Value*, std::int64_t> adapt_rank;
};

/// Annotates `a` (the inlined graph of `root`) under `config`. `probe` (may be
/// empty) holds example values for dtypes and shapes.
Annotation annotate(const torch::jit::Module& root, const AnalyzedGraph& a,
                    const quantization::QuantizerConfig& config,
                    const std::unordered_map<const Value*, at::Tensor>& probe);

using quantization::block_mismatch_warning;
using quantization::block_size_for;
using quantization::TensorRole;

/// Inserts a coreai_opt::fake_quant_forward call on `x` at the current insert
/// point, reading the state buffers of `fq` from the graph's `self` and its spec
/// from a FakeQuantizeSpec constant (validated here).
Value* insert_fake_quant(Graph& g, Value* x, const FqDef& fq);

/// Finalizes a clone of a prepared module in place (see Quantizer::finalize).
void finalize_module(torch::jit::Module& module, const std::vector<FqDef>& fqs);

}  // namespace coreai_opt::jit_detail
