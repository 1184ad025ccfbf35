// Loading models and input batches with one-line errors, for programs that take
// file names from their users (the coreai-opt tool, the examples).
//
//   torch::jit::Module model = coreai_opt::io::load_module("model.pt");
//   for (const auto& batch : coreai_opt::io::load_batches("calib.pt")) model.forward(batch);
//
// Batch files (docs/cli.md): Python's torch.save of a list of batches, each a
// Tensor or a tuple / list of Tensors (the positional inputs of forward), or of a
// single such batch; or a TorchScript module whose buffers input0, input1, ... are
// one batch.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <exception>
#include <string>
#include <vector>

namespace coreai_opt::io {

/// The positional inputs of one forward call.
using Batch = std::vector<c10::IValue>;

/// The message of an exception on one line and without a C++ backtrace. For an
/// error raised inside the TorchScript interpreter (a traceback of the model's code
/// ending in `<--- HERE`), the error after the traceback without its Python
/// exception name (`mat1 and mat2 shapes cannot be multiplied (4x3 and 5x8)`).
std::string error_summary(const std::exception& e);

/// torch::jit::load; InvalidArgumentError ("cannot open 'P': No such file or
/// directory", "'P' is not a TorchScript module (...)") instead of LibTorch's
/// multi-line errors.
torch::jit::Module load_module(const std::string& path);

/// Every batch in `path` (formats above); InvalidArgumentError naming the file or
/// the batch for anything else (a dict, a non-Tensor element, an empty list).
std::vector<Batch> load_batches(const std::string& path);

}  // namespace coreai_opt::io
