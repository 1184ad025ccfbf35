// Model and batch loading with one-line errors (include/coreai_opt/torch/io.h).
#include "coreai_opt/torch/io.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>
#include <torch/serialize.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "coreai_opt/errors.h"

namespace coreai_opt::io {
namespace {

// True for a TorchScript archive (torch.jit.save), false for anything else
// (a torch.save archive, a file that is not a zip archive).
bool is_torchscript_archive(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    return reader.hasRecord("constants.pkl");
  } catch (const c10::Error&) {
    return false;
  }
}

// The Python name of what a torch.save file held (`dict`, `int`, ...).
std::string python_kind(const c10::IValue& v) {
  if (v.isGenericDict()) return "dict";
  if (v.isInt()) return "int";
  if (v.isDouble()) return "float";
  if (v.isBool()) return "bool";
  if (v.isString()) return "str";
  if (v.isNone()) return "None";
  if (v.isTuple()) return "tuple";
  if (v.isList()) return "list";
  return v.tagKind();
}

// One batch from a Tensor or a tuple / list of Tensors; `what` names it in errors.
Batch to_batch(const c10::IValue& v, const std::string& what) {
  if (v.isTensor()) return {v};
  std::vector<c10::IValue> items;
  if (v.isTuple()) {
    const auto& e = v.toTupleRef().elements();
    items.assign(e.begin(), e.end());
  } else if (v.isList()) {
    for (const c10::IValue& e : v.toListRef()) items.push_back(e);
  } else {
    throw InvalidArgumentError(what + ": a " + python_kind(v) +
                               ", not a Tensor or a tuple of Tensors");
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!items[i].isTensor())
      throw InvalidArgumentError(what + ": element " + std::to_string(i) + " is a " +
                                 python_kind(items[i]) + ", not a Tensor");
  }
  if (items.empty()) throw InvalidArgumentError(what + ": an empty tuple");
  return items;
}

}  // namespace

std::string error_summary(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string m = c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
  if (const auto here = m.rfind("<--- HERE"); here != std::string::npos) {
    const auto next = m.find('\n', here);
    if (next != std::string::npos) {
      m = m.substr(next + 1);
      m.erase(0, m.find_first_not_of("\n"));
      const auto colon = m.find(": ");
      const std::string kind = m.substr(0, colon);
      if (colon != std::string::npos && kind.size() > 5 &&
          kind.compare(kind.size() - 5, 5, "Error") == 0 &&
          kind.find_first_of(" \t") == std::string::npos)
        m.erase(0, colon + 2);
    }
  }
  m = m.substr(0, m.find('\n'));
  // The zip reader appends a paragraph about corrupted checkpoints: one line is enough.
  if (const auto p = m.find(". This is an internal miniz error"); p != std::string::npos)
    m.erase(p);
  return m;
}

torch::jit::Module load_module(const std::string& path) {
  if (!std::ifstream(path).good()) {
    throw InvalidArgumentError("cannot open '" + path + "': " + std::strerror(errno));
  }
  try {
    return torch::jit::load(path);
  } catch (const c10::Error& e) {
    throw InvalidArgumentError("'" + path + "' is not a TorchScript module (" +
                               error_summary(e) + ")");
  }
}

std::vector<Batch> load_batches(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f.good()) {
    throw InvalidArgumentError("cannot open '" + path + "': " + std::strerror(errno));
  }
  if (is_torchscript_archive(path)) {
    torch::jit::Module holder = load_module(path);
    Batch batch;
    for (int i = 0; holder.hasattr("input" + std::to_string(i)); ++i)
      batch.emplace_back(holder.attr("input" + std::to_string(i)));
    if (batch.empty()) {
      throw InvalidArgumentError("'" + path +
                                 "' is a TorchScript module without buffers input0, input1, ...");
    }
    return {batch};
  }
  const std::vector<char> bytes{std::istreambuf_iterator<char>(f),
                                std::istreambuf_iterator<char>()};
  c10::IValue v;
  try {
    v = torch::pickle_load(bytes);
  } catch (const c10::Error& e) {
    throw InvalidArgumentError("'" + path + "' is not a file written by torch.save (" +
                               error_summary(e) + ")");
  }
  if (!v.isList()) return {to_batch(v, "'" + path + "'")};
  std::vector<Batch> out;
  for (const c10::IValue& b : v.toListRef())
    out.push_back(to_batch(b, "calibration batch " + std::to_string(out.size())));
  if (out.empty()) throw InvalidArgumentError("'" + path + "' holds an empty list of batches");
  return out;
}

}  // namespace coreai_opt::io
