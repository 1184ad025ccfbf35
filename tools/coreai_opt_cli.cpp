// coreai-opt: command-line front end of coreai_opt.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "coreai_opt/quantization/config.h"
#include "coreai_opt/quantization/schema.h"

#ifdef COREAI_OPT_CLI_WITH_TORCH
#include <torch/script.h>

#include <nlohmann/json.hpp>

#include "coreai_opt/format/dtype.h"
#include "coreai_opt/torch/inspector.h"
#include "coreai_opt/torch/io.h"
#include "coreai_opt/torch/quantizer.h"
#endif

namespace {

using coreai_opt::ConfigError;
using coreai_opt::quantization::QuantizerConfig;

struct Command {
  const char* name;
  const char* summary;
  const char* usage;
  std::function<int(const std::vector<std::string>&)> run;
};

// `FILE:LINE:COL: error: PATH: message`, or `FILE: error: ...` without a line.
void report(const std::string& file, const ConfigError& e) {
  const auto& loc = e.location();
  std::string where = loc.known() ? (loc.file.empty() ? file : loc.file) + ":" +
                                        std::to_string(loc.line) + ":" + std::to_string(loc.column)
                                  : file;
  std::cerr << where << ": error: " << (e.path().empty() ? "" : e.path() + ": ") << e.message()
            << "\n";
}

bool wants_help(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") return true;
  }
  return false;
}

int cmd_validate(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << "coreai-opt validate: no files given (usage: coreai-opt validate FILE...)\n";
    return 2;
  }
  int bad = 0;
  for (const auto& file : args) {
    try {
      QuantizerConfig::from_yaml(file);
      std::cout << file << ": ok\n";
    } catch (const ConfigError& e) {
      report(file, e);
      ++bad;
    }
  }
  return bad ? 1 : 0;
}

int cmd_normalize(const std::vector<std::string>& args) {
  bool yaml = false;
  std::vector<std::string> files;
  for (const auto& a : args) {
    if (a == "--yaml") {
      yaml = true;
    } else {
      files.push_back(a);
    }
  }
  if (files.size() != 1) {
    std::cerr << "coreai-opt normalize: expected exactly one FILE (usage: coreai-opt normalize "
                 "[--yaml] FILE)\n";
    return 2;
  }
  try {
    const QuantizerConfig cfg = QuantizerConfig::from_yaml(files[0]);
    std::cout << (yaml ? cfg.to_yaml() : cfg.to_json());
  } catch (const ConfigError& e) {
    report(files[0], e);
    return 1;
  }
  return 0;
}

int cmd_schema(const std::vector<std::string>& args) {
  if (args.size() > 1 || (args.size() == 1 && args[0] != "--markdown")) {
    std::cerr << "coreai-opt schema: unexpected argument (usage: coreai-opt schema [--markdown])\n";
    return 2;
  }
  std::cout << (args.empty() ? coreai_opt::quantization::config_json_schema()
                             : coreai_opt::quantization::config_key_reference_markdown());
  return 0;
}

#ifdef COREAI_OPT_CLI_WITH_TORCH
using coreai_opt::InvalidArgumentError;
using coreai_opt::quantization::Quantizer;

using coreai_opt::io::Batch;
using coreai_opt::io::error_summary;
using coreai_opt::io::load_batches;
using coreai_opt::io::load_module;

// Example inputs of `plan --inputs`: exactly one batch.
std::vector<c10::IValue> load_inputs(const std::string& path) {
  std::vector<Batch> batches = load_batches(path);
  if (batches.size() != 1) {
    throw InvalidArgumentError("'" + path + "' holds " + std::to_string(batches.size()) +
                               " batches; --inputs takes one (a Tensor or a tuple of Tensors)");
  }
  return batches[0];
}

int cmd_inspect(const std::vector<std::string>& args) {
  bool json = false;
  bool compressible = false;
  std::vector<std::string> files;
  for (const auto& a : args) {
    if (a == "--json") {
      json = true;
    } else if (a == "--compressible") {
      compressible = true;
    } else {
      files.push_back(a);
    }
  }
  if (files.size() != 1) {
    std::cerr << "coreai-opt inspect: expected exactly one MODEL (usage: coreai-opt inspect "
                 "[--json] [--compressible] MODEL.pt)\n";
    return 2;
  }
  const coreai_opt::quantization::ModelInspector inspector(load_module(files[0]), compressible);
  std::cout << (json ? inspector.to_json() + "\n" : inspector.format_summary());
  return 0;
}

int cmd_plan(const std::vector<std::string>& args) {
  bool json = false;
  std::string config, inputs;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--json") {
      json = true;
    } else if ((args[i] == "--config" || args[i] == "--inputs") && i + 1 < args.size()) {
      (args[i] == "--config" ? config : inputs) = args[i + 1];
      ++i;
    } else {
      files.push_back(args[i]);
    }
  }
  if (files.size() != 1 || config.empty()) {
    std::cerr << "coreai-opt plan: expected MODEL.pt and --config CONFIG (usage: coreai-opt plan "
                 "MODEL.pt --config CONFIG.yaml [--inputs INPUTS.pt] [--json])\n";
    return 2;
  }
  QuantizerConfig cfg;
  try {
    cfg = QuantizerConfig::from_yaml(config);
  } catch (const ConfigError& e) {
    report(config, e);
    return 1;
  }
  Quantizer q(load_module(files[0]), cfg);
  const auto plan = q.plan(inputs.empty() ? coreai_opt::quantization::Example()
                                          : coreai_opt::quantization::Example(load_inputs(inputs)));
  std::cout << (json ? plan.to_json() + "\n" : plan.format_table());
  return 0;
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// `0:04`, `12:30`, `1:02:03`.
std::string clock_text(double seconds) {
  const auto s = static_cast<std::int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(digits);
  os << v;
  return os.str();
}

// Calibration progress on stderr: on a terminal one line redrawn in place (at
// most 10 times a second); otherwise a plain line about every 10% of the
// batches and at the last one, so logs stay short.
class Progress {
 public:
  explicit Progress(std::int64_t total)
      : total_(total), tty_(isatty(fileno(stderr)) != 0), start_(Clock::now()) {}

  void update(std::int64_t done) {
    const double elapsed = seconds_since(start_);
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
    const double left = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
    const bool last = done == total_;
    if (tty_) {
      if (!last && elapsed - last_draw_ < 0.1) return;
      last_draw_ = elapsed;
      constexpr std::int64_t kWidth = 20;
      const std::int64_t filled = done * kWidth / total_;
      const std::string count = std::to_string(total_);
      std::string d = std::to_string(done);
      d.insert(0, count.size() - std::min(count.size(), d.size()), ' ');
      std::cerr << "\rcalibrating [" << std::string(static_cast<std::size_t>(filled), '#')
                << std::string(static_cast<std::size_t>(kWidth - filled), ' ') << "]  " << d << "/"
                << count << " batches  " << fixed(rate, 1) << " batches/s  " << clock_text(left)
                << " left\x1b[K" << (last ? "\n" : "") << std::flush;
      return;
    }
    const std::int64_t decile = done * 10 / total_;
    if (!last && decile == last_decile_) return;
    last_decile_ = decile;
    std::cerr << "calibrating: " << done << "/" << total_ << " batches, " << fixed(rate, 1)
              << " batches/s, "
              << (last ? clock_text(elapsed) + " total" : clock_text(left) + " left") << "\n";
  }

 private:
  std::int64_t total_;
  bool tty_;
  Clock::time_point start_;
  double last_draw_ = -1.0;
  std::int64_t last_decile_ = 0;
};

// `float32`, `int64`, ...: the Python spelling of a tensor dtype.
std::string dtype_text(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return "float32";
    case at::kDouble:
      return "float64";
    case at::kHalf:
      return "float16";
    case at::kBFloat16:
      return "bfloat16";
    case at::kLong:
      return "int64";
    case at::kInt:
      return "int32";
    case at::kShort:
      return "int16";
    case at::kChar:
      return "int8";
    case at::kByte:
      return "uint8";
    case at::kBool:
      return "bool";
    default:
      return c10::toString(t);
  }
}

std::string tensor_text(const at::Tensor& t) {
  return dtype_text(t.scalar_type()) + " of rank " + std::to_string(t.dim());
}

// Every batch takes as many inputs as forward has arguments (those with a
// default may be left out), with the dtypes and ranks of the first batch.
void check_batches(const torch::jit::Module& model, const std::vector<Batch>& batches) {
  const auto& args = model.get_method("forward").function().getSchema().arguments();
  std::size_t required = 0;
  std::string names;
  for (std::size_t i = 1; i < args.size(); ++i) {
    names += (i > 1 ? ", " : "") + args[i].name();
    if (!args[i].default_value()) required = i;
  }
  const std::size_t most = args.empty() ? 0 : args.size() - 1;
  const std::string takes = required == most
                                ? std::to_string(most)
                                : std::to_string(required) + " to " + std::to_string(most);
  for (std::size_t k = 0; k < batches.size(); ++k) {
    const Batch& b = batches[k];
    const std::string where = "calibration batch " + std::to_string(k) + ": ";
    if (b.size() < required || b.size() > most) {
      throw InvalidArgumentError(where + std::to_string(b.size()) + " input" +
                                 (b.size() == 1 ? "" : "s") + ", but forward(" + names +
                                 ") takes " + takes);
    }
    if (b.size() != batches[0].size()) {
      throw InvalidArgumentError(where + std::to_string(b.size()) + " inputs; batch 0 has " +
                                 std::to_string(batches[0].size()));
    }
    for (std::size_t i = 0; i < b.size(); ++i) {
      const at::Tensor& t = b[i].toTensor();
      const at::Tensor& t0 = batches[0][i].toTensor();
      if (t.scalar_type() != t0.scalar_type() || t.dim() != t0.dim()) {
        throw InvalidArgumentError(where + "input " + std::to_string(i) + " is " + tensor_text(t) +
                                   "; in batch 0 it is " + tensor_text(t0));
      }
    }
  }
}

// `1234 bytes` or `1234567 bytes (1.18 MiB)`.
std::string bytes_text(std::int64_t b) {
  std::string out = std::to_string(b) + " bytes";
  if (b >= 1024 * 1024) {
    out += " (" + fixed(static_cast<double>(b) / (1024.0 * 1024.0), 2) + " MiB)";
  } else if (b >= 1024) {
    out += " (" + fixed(static_cast<double>(b) / 1024.0, 1) + " KiB)";
  }
  return out;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec, ea, eb;
  if (std::filesystem::equivalent(a, b, ec)) return true;
  const auto ca = std::filesystem::weakly_canonical(a, ea);
  const auto cb = std::filesystem::weakly_canonical(b, eb);
  return !ea && !eb && ca == cb;
}

int quantize_usage(const std::string& why) {
  std::cerr << "coreai-opt quantize: " << why
            << " (usage: coreai-opt quantize MODEL.pt --config CONFIG.yaml [--calibration "
               "DATA.pt] [--batches N] --output OUT.pt [--finalize] [--json])\n";
  return 2;
}

int cmd_quantize(const std::vector<std::string>& args) {
  std::string model_path, config_path, calib_path, output, batches_arg;
  bool finalize = false, json = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--finalize") {
      finalize = true;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--config" || a == "--calibration" || a == "--output" || a == "--batches") {
      if (i + 1 >= args.size()) return quantize_usage(a + " needs a value");
      std::string& dst = a == "--config"        ? config_path
                         : a == "--calibration" ? calib_path
                         : a == "--output"      ? output
                                                : batches_arg;
      dst = args[++i];
    } else if (a.size() > 1 && a[0] == '-') {
      return quantize_usage("unknown option '" + a + "'");
    } else if (model_path.empty()) {
      model_path = a;
    } else {
      return quantize_usage("more than one MODEL given ('" + model_path + "', '" + a + "')");
    }
  }
  if (model_path.empty()) return quantize_usage("no MODEL given");
  if (config_path.empty()) return quantize_usage("--config is required");
  if (output.empty()) return quantize_usage("--output is required");
  if (!batches_arg.empty() && calib_path.empty())
    return quantize_usage("--batches needs --calibration");

  const auto out_dir = std::filesystem::path(output).parent_path();
  if (!out_dir.empty() && !std::filesystem::is_directory(out_dir)) {
    throw InvalidArgumentError("cannot write '" + output + "': no directory '" + out_dir.string() +
                               "'");
  }
  if (same_file(model_path, output)) {
    throw InvalidArgumentError("--output '" + output +
                               "' is the input model; write the quantized model to another file");
  }
  std::int64_t batches_wanted = 0;  // 0: all
  if (!batches_arg.empty()) {
    const bool digits = std::all_of(batches_arg.begin(), batches_arg.end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || batches_arg.size() > 12 || std::stoll(batches_arg) == 0) {
      throw InvalidArgumentError("--batches '" + batches_arg + "': expected a positive integer");
    }
    batches_wanted = std::stoll(batches_arg);
  }

  auto t0 = Clock::now();
  torch::jit::Module model = load_module(model_path);
  QuantizerConfig cfg;
  try {
    cfg = QuantizerConfig::from_yaml(config_path);
  } catch (const ConfigError& e) {
    report(config_path, e);
    return 1;
  }
  std::vector<Batch> batches;
  if (!calib_path.empty()) {
    batches = load_batches(calib_path);
    check_batches(model, batches);
    if (batches_wanted > static_cast<std::int64_t>(batches.size())) {
      throw InvalidArgumentError("--batches " + batches_arg + ": '" + calib_path + "' holds only " +
                                 std::to_string(batches.size()) + " batch" +
                                 (batches.size() == 1 ? "" : "es"));
    }
  }
  const std::int64_t n_calib =
      batches_wanted > 0 ? batches_wanted : static_cast<std::int64_t>(batches.size());
  std::optional<Quantizer> q;
  try {
    q.emplace(model, cfg);
  } catch (const ConfigError& e) {
    report(config_path, e);
    return 1;
  }
  const double t_load = seconds_since(t0);

  if (batches.empty()) {
    // Weights only: prepare() reads the weights; activations need data.
    std::vector<const coreai_opt::quantization::PlanPoint*> acts;
    const auto plan = q->plan();
    for (const auto& p : plan.points) {
      if (p.kind != coreai_opt::quantization::PointKind::kOpState &&
          p.kind != coreai_opt::quantization::PointKind::kModuleState && !p.fake_quant.empty())
        acts.push_back(&p);
    }
    if (!acts.empty()) {
      const auto& p = *acts[0];
      throw InvalidArgumentError(
          "the config quantizes activations (" + std::to_string(acts.size()) + " points, e.g. " +
          std::string(coreai_opt::quantization::to_string(p.kind)) + " " + p.tensor + " of " +
          (p.op_name ? *p.op_name : "module '" + p.module + "'") +
          "); pass --calibration DATA.pt to calibrate them");
    }
  }

  t0 = Clock::now();
  torch::jit::Module prepared;
  try {
    prepared = q->prepare(batches.empty() ? coreai_opt::quantization::Example()
                                          : coreai_opt::quantization::Example(batches[0]))
                   .script_module();
  } catch (const coreai_opt::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw InvalidArgumentError((batches.empty() ? "prepare: " : "calibration batch 0: ") +
                               error_summary(e));
  }
  const double t_prepare = seconds_since(t0);

  t0 = Clock::now();
  if (n_calib > 0) {
    Progress progress(n_calib);
    at::NoGradGuard no_grad;
    auto calibrating = q->calibration_mode();
    for (std::int64_t k = 0; k < n_calib; ++k) {
      try {
        prepared.forward(batches[static_cast<std::size_t>(k)]);
      } catch (const coreai_opt::Error&) {
        throw;
      } catch (const std::exception& e) {
        throw InvalidArgumentError("calibration batch " + std::to_string(k) + ": " +
                                   error_summary(e));
      }
      progress.update(k + 1);
    }
  }
  const double t_calib = seconds_since(t0);

  std::optional<double> t_finalize;
  torch::jit::Module result = prepared;
  std::int64_t after = coreai_opt::quantization::Model(prepared).state_bytes();
  std::int64_t before = 0;
  if (finalize) {
    t0 = Clock::now();
    try {
      const auto done = q->finalize();
      result = done.model.script_module();
      before = done.report.parameter_bytes_before;
      after = done.report.parameter_bytes_after;
    } catch (const coreai_opt::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw InvalidArgumentError("finalize: " + error_summary(e));
    }
    t_finalize = seconds_since(t0);
  }

  t0 = Clock::now();
  try {
    result.save(output);
  } catch (const coreai_opt::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw InvalidArgumentError("cannot write '" + output + "': " + error_summary(e));
  }
  const double t_save = seconds_since(t0);

  // Fake-quants per spec dtype; one serving several points counts once.
  std::map<std::string, std::pair<int, int>> per_dtype;  // weights, activations
  int disabled = 0;
  for (const auto& f : q->fake_quants()) {
    if (f.disabled) {
      ++disabled;
      continue;
    }
    auto& c = per_dtype[std::string(coreai_opt::dtype_name(f.spec.dtype))];
    ++(f.weight ? c.first : c.second);
  }
  if (!finalize) before = coreai_opt::quantization::Model(model).state_bytes();
  const double rate = t_calib > 0 ? static_cast<double>(n_calib) / t_calib : 0.0;

  if (json) {
    nlohmann::ordered_json j;
    j["model"] = model_path;
    j["config"] = config_path;
    j["calibration"] =
        calib_path.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(calib_path);
    j["output"] = output;
    j["finalized"] = finalize;
    j["fake_quants"] = nlohmann::ordered_json::object();
    for (const auto& [d, c] : per_dtype)
      j["fake_quants"][d] = {{"weights", c.first}, {"activations", c.second}};
    j["disabled"] = disabled;
    j["parameter_bytes"] = {{"before", before}, {"after", after}};
    j["calibration_batches"] = n_calib;
    j["seconds"] = {
        {"load", t_load},
        {"prepare", t_prepare},
        {"calibration", t_calib},
        {"finalize", t_finalize ? nlohmann::ordered_json(*t_finalize) : nlohmann::ordered_json()},
        {"save", t_save}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "model       " << model_path << "\n"
            << "config      " << config_path << "\n"
            << "output      " << output << (finalize ? " (finalized)" : " (prepared)") << "\n";
  bool first = true;
  for (const auto& [d, c] : per_dtype) {
    std::cout << (first ? "quantized   " : "            ") << d << ": " << c.first << " weight"
              << (c.first == 1 ? "" : "s") << ", " << c.second << " activation"
              << (c.second == 1 ? "" : "s") << "\n";
    first = false;
  }
  if (first) std::cout << "quantized   nothing (no rule of the config matches the model)\n";
  if (disabled > 0) {
    std::cout << "            " << disabled
              << " disabled at run time (a block size does not divide the tensor)\n";
  }
  std::cout << "parameters  " << bytes_text(before) << " before, ";
  if (finalize) {
    const double ratio =
        static_cast<double>(after) / static_cast<double>(std::max<std::int64_t>(before, 1));
    std::cout << bytes_text(after) << " after finalize (" << fixed(ratio, 3) << "x)\n";
  } else {
    std::cout << bytes_text(after)
              << " prepared (float weights plus quantizer state; --finalize stores the "
                 "weights quantized)\n";
  }
  std::cout << "time        load " << fixed(t_load, 3) << " s, prepare " << fixed(t_prepare, 3)
            << " s, calibration ";
  if (n_calib > 0) {
    std::cout << fixed(t_calib, 3) << " s (" << n_calib << " batch" << (n_calib == 1 ? "" : "es")
              << ", " << fixed(rate, 1) << " batches/s)";
  } else {
    std::cout << "none (weights only)";
  }
  if (t_finalize) std::cout << ", finalize " << fixed(*t_finalize, 3) << " s";
  std::cout << ", save " << fixed(t_save, 3) << " s\n";
  return 0;
}
#endif

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"validate", "check config files; one compiler-style line per error",
       "usage: coreai-opt validate FILE...\n\n"
       "Loads each YAML (or .json) quantization config and reports every file that does not\n"
       "load as `FILE:LINE:COL: error: CONFIG.PATH: message` on stderr. Exit status 0 when\n"
       "all files are valid, 1 when any is not, 2 on a usage error.\n",
       cmd_validate},
      {"normalize", "print the fully defaulted config as canonical JSON",
       "usage: coreai-opt normalize [--yaml] FILE\n\n"
       "Prints the config with every default filled in: canonical JSON (dtypes as strings,\n"
       "granularity as {type, axis, block_size}, computed spec fields included), or the same\n"
       "as YAML with --yaml. Exit status 1 when the file is not a valid config.\n",
       cmd_normalize},
      {"schema", "print the JSON Schema of the config format (or its key reference)",
       "usage: coreai-opt schema [--markdown]\n\n"
       "Prints the JSON Schema (for editors) generated from the same tables the reader uses;\n"
       "with --markdown, the reference table of every key instead.\n",
       cmd_schema},
#ifdef COREAI_OPT_CLI_WITH_TORCH
      {"inspect", "print the modules and ops of a TorchScript model",
       "usage: coreai-opt inspect [--json] [--compressible] MODEL.pt\n\n"
       "Prints the module tree of a TorchScript model with the ops inside each module: op\n"
       "names and types as op_name_config / op_type_config match them, inputs and outputs.\n"
       "--compressible lists only the ops a quantization pattern can match; --json prints\n"
       "the same as JSON.\n",
       cmd_inspect},
      {"plan", "list every quantization point a config gives a TorchScript model",
       "usage: coreai-opt plan MODEL.pt --config CONFIG.yaml [--inputs INPUTS.pt] [--json]\n\n"
       "Resolves the config against the model (graph mode) and prints one line per\n"
       "quantized (or explicitly unquantized) tensor with its spec and the config entries\n"
       "that decided it, then warnings (keys that match nothing, layers a block size does\n"
       "not divide). --inputs names example inputs (dtypes and shapes make the plan\n"
       "exact): one batch written by torch.save (a Tensor or a tuple of Tensors), or a\n"
       "TorchScript module whose buffers input0, input1, ... hold them. --json prints\n"
       "{\"execution_mode\", \"points\", \"warnings\"}.\n",
       cmd_plan},
      {"quantize", "prepare, calibrate and (optionally) finalize a TorchScript model",
       "usage: coreai-opt quantize MODEL.pt --config CONFIG.yaml [--calibration DATA.pt]\n"
       "                           [--batches N] --output OUT.pt [--finalize] [--json]\n\n"
       "Quantizes a TorchScript model in graph mode: inserts the fake-quants the config\n"
       "asks for, using the first calibration batch as example inputs; runs N batches of\n"
       "DATA.pt (default: all) to calibrate the activation ranges, with a progress line on\n"
       "stderr; with --finalize stores the weights quantized; saves OUT.pt and prints a\n"
       "summary (fake-quants per dtype, parameter bytes, times; --json: as JSON).\n\n"
       "DATA.pt is written by Python's torch.save(batches, \"DATA.pt\"): a list of batches,\n"
       "each a Tensor (one input) or a tuple of Tensors (the inputs of forward); a single\n"
       "Tensor or tuple is one batch. --calibration may be left out when the config\n"
       "quantizes weights only. Exit status 0 on success, 1 on an error in an input\n"
       "(one line on stderr), 2 on a usage error. docs/cli.md has the details.\n",
       cmd_quantize},
#endif
  };
  return table;
}

void print_help() {
  std::cout << "usage: coreai-opt COMMAND [ARGS...]\n\n"
               "Quantization configs for LibTorch models (the file format of the Python\n"
               "coreai_opt library).\n\ncommands:\n";
  for (const auto& c : commands()) {
    std::printf("  %-10s %s\n", c.name, c.summary);
  }
  std::cout << "\nRun `coreai-opt COMMAND --help` for the arguments of a command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    print_help();
    return args.empty() ? 2 : 0;
  }
  for (const auto& c : commands()) {
    if (args[0] == c.name) {
      std::vector<std::string> rest(args.begin() + 1, args.end());
      if (wants_help(rest)) {
        std::cout << c.usage;
        return 0;
      }
      try {
        return c.run(rest);
      }
#ifdef COREAI_OPT_CLI_WITH_TORCH
      catch (const coreai_opt::Error& e) {
        std::cerr << "coreai-opt " << c.name << ": error: " << e.what() << "\n";
        return 1;
      } catch (const std::exception& e) {  // LibTorch errors: the message, not the backtrace
        std::cerr << "coreai-opt " << c.name << ": error: " << error_summary(e) << "\n";
        return 1;
      }
#else
      catch (const std::exception& e) {
        std::cerr << "coreai-opt " << c.name << ": error: " << e.what() << "\n";
        return 1;
      }
#endif
    }
  }
  std::cerr << "coreai-opt: unknown command '" << args[0] << "'; run `coreai-opt --help`\n";
  return 2;
}
