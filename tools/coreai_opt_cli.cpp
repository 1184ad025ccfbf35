// coreai-opt: command-line front end of coreai_opt.
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "coreai_opt/quantization/config.h"
#include "coreai_opt/quantization/schema.h"

#ifdef COREAI_OPT_CLI_WITH_TORCH
#include <torch/script.h>

#include "coreai_opt/torch/inspector.h"
#include "coreai_opt/torch/jit_quantizer.h"
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
// torch::jit::load with one-line errors: a missing file or a file that is not a
// TorchScript archive is a user error, not a stack trace.
torch::jit::Module load_module(const std::string& path) {
  if (!std::ifstream(path).good()) {
    throw coreai_opt::InvalidArgumentError("cannot open '" + path + "': " + std::strerror(errno));
  }
  try {
    return torch::jit::load(path);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    msg = msg.substr(0, msg.find('\n'));
    throw coreai_opt::InvalidArgumentError("'" + path + "' is not a TorchScript module (" + msg +
                                           ")");
  }
}

// Example inputs saved as the buffers input0, input1, ... of a TorchScript module
// (torch.jit.script of a module holding them), so no pickle reader is needed.
std::vector<c10::IValue> load_inputs(const std::string& path) {
  torch::jit::Module holder = load_module(path);
  std::vector<c10::IValue> out;
  for (int i = 0; holder.hasattr("input" + std::to_string(i)); ++i)
    out.emplace_back(holder.attr("input" + std::to_string(i)));
  if (out.empty()) throw coreai_opt::InvalidArgumentError(path + ": no buffers input0, input1, ...");
  return out;
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
  const coreai_opt::quantization::ModelInspector inspector(load_module(files[0]),
                                                           compressible);
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
  coreai_opt::quantization::JitQuantizer q(load_module(files[0]), cfg);
  const auto plan = q.plan(inputs.empty() ? std::vector<c10::IValue>{} : load_inputs(inputs));
  std::cout << (json ? plan.to_json() + "\n" : plan.format_table());
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
       "not divide). --inputs names a TorchScript module whose buffers input0, input1, ...\n"
       "are example inputs (dtypes and shapes make the plan exact). --json prints\n"
       "{\"execution_mode\", \"points\", \"warnings\"}.\n",
       cmd_plan},
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
      catch (const c10::Error& e) {  // LibTorch errors: the message, not the backtrace
        std::cerr << "coreai-opt " << c.name << ": error: " << e.what_without_backtrace() << "\n";
        return 1;
      }
#endif
      catch (const std::exception& e) {
        std::cerr << "coreai-opt " << c.name << ": error: " << e.what() << "\n";
        return 1;
      }
    }
  }
  std::cerr << "coreai-opt: unknown command '" << args[0] << "'; run `coreai-opt --help`\n";
  return 2;
}
