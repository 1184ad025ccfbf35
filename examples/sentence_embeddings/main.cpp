// sentence_embeddings: quantizes a TorchScript sentence encoder (the demo uses
// all-MiniLM-L6-v2, see scripts/demo.sh) in graph mode with each config given,
// and measures what each costs: cosine similarity of the sentence embeddings
// against the float model (mean and worst over the evaluation sentences),
// parameter bytes, prepare and calibration time, and latency per batch of the
// float, prepared (fake-quant) and finalized (stored codes) models.
//
//   sentence_embeddings MODEL.pt CALIB.pt EVAL.pt NAME=CONFIG.yaml...
//       [--markdown OUT.md] [--json OUT.json] [--target NAME=MIN_MEAN_COS]...
//       [--repeats N]
//
// CALIB.pt / EVAL.pt: torch.save'd lists of (input_ids, attention_mask) batches
// (scripts/demo/prepare_minilm.py writes them). Every --target is checked after
// the table is printed: the exit status is 1 when a mean cosine is below its
// target, 2 on bad arguments or input files.
#include <coreai_opt/errors.h>
#include <coreai_opt/quantization/config.h>
#include <coreai_opt/torch/io.h>
#include <coreai_opt/torch/quantizer.h>
#include <coreai_opt/warnings.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace cq = coreai_opt::quantization;

namespace {

using coreai_opt::io::Batch;
using coreai_opt::io::load_batches;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

torch::Tensor run_all(torch::jit::Module& m, const std::vector<Batch>& batches) {
  std::vector<torch::Tensor> outs;
  for (const auto& b : batches) outs.push_back(m.forward(b).toTensor());
  return torch::cat(outs);
}

// Milliseconds per batch: the median over `repeats` passes over all batches.
double latency_ms(torch::jit::Module& m, const std::vector<Batch>& batches, int repeats) {
  run_all(m, batches);  // warm-up (TorchScript profiling runs, allocator)
  std::vector<double> per_batch;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    run_all(m, batches);
    per_batch.push_back(seconds_since(t0) * 1e3 / static_cast<double>(batches.size()));
  }
  std::sort(per_batch.begin(), per_batch.end());
  return per_batch[per_batch.size() / 2];
}

struct Row {
  std::string name, config;
  int weight_points = 0, activation_points = 0;
  double mean_cos = 0, worst_cos = 0, final_mean_cos = 0;
  std::int64_t bytes_before = 0, bytes_after = 0;
  double prepare_s = 0, calibrate_s = 0, finalize_s = 0;
  double float_ms = 0, prepared_ms = 0, final_ms = 0;
};

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string markdown(const std::vector<Row>& rows, const std::string& header) {
  std::ostringstream md;
  md << header
     << "| config | quantized (weights / activations) | mean cos | worst cos | parameter MB "
        "(ratio) | prepare s | calibrate s | float ms | prepared ms | finalized ms |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    md << "| " << r.name << " | " << r.weight_points << " / " << r.activation_points << " | "
       << fixed(r.mean_cos, 4) << " | " << fixed(r.worst_cos, 4) << " | "
       << fixed(static_cast<double>(r.bytes_after) / 1e6, 1) << " ("
       << fixed(static_cast<double>(r.bytes_before) / static_cast<double>(r.bytes_after), 2)
       << "x) | " << fixed(r.prepare_s, 2) << " | " << fixed(r.calibrate_s, 2) << " | "
       << fixed(r.float_ms, 1) << " | " << fixed(r.prepared_ms, 1) << " | " << fixed(r.final_ms, 1)
       << " |\n";
  }
  return md.str();
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

std::string json(const std::vector<Row>& rows, std::int64_t n_eval, std::int64_t n_calib) {
  std::ostringstream j;
  j << "{\n  \"evaluation_sentences\": " << n_eval << ",\n  \"calibration_sentences\": " << n_calib
    << ",\n  \"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    j << "    {\"config\": \"" << json_escape(r.name) << "\", \"file\": \"" << json_escape(r.config)
      << "\", \"weight_points\": " << r.weight_points
      << ", \"activation_points\": " << r.activation_points
      << ", \"mean_cosine\": " << fixed(r.mean_cos, 6)
      << ", \"worst_cosine\": " << fixed(r.worst_cos, 6)
      << ", \"finalized_mean_cosine\": " << fixed(r.final_mean_cos, 6)
      << ", \"parameter_bytes_float\": " << r.bytes_before
      << ", \"parameter_bytes_finalized\": " << r.bytes_after
      << ", \"prepare_s\": " << fixed(r.prepare_s, 3)
      << ", \"calibrate_s\": " << fixed(r.calibrate_s, 3)
      << ", \"finalize_s\": " << fixed(r.finalize_s, 3)
      << ", \"latency_ms_per_batch\": {\"float\": " << fixed(r.float_ms, 2)
      << ", \"prepared\": " << fixed(r.prepared_ms, 2)
      << ", \"finalized\": " << fixed(r.final_ms, 2) << "}}" << (i + 1 < rows.size() ? "," : "")
      << "\n";
  }
  j << "  ]\n}\n";
  return j.str();
}

std::int64_t count_rows(const std::vector<Batch>& batches) {
  std::int64_t n = 0;
  for (const auto& b : batches) n += b.front().toTensor().size(0);
  return n;
}

int run(int argc, char** argv) {
  std::vector<std::string> pos;
  std::string md_path, json_path;
  std::map<std::string, double> targets;
  int repeats = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--markdown" || a == "--json" || a == "--target" || a == "--repeats") &&
        i + 1 < argc) {
      const std::string v = argv[++i];
      if (a == "--markdown") md_path = v;
      if (a == "--json") json_path = v;
      if (a == "--repeats") {
        const bool digits =
            !v.empty() && v.size() < 6 &&
            std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        if (!digits || std::stoi(v) == 0)
          throw std::invalid_argument("--repeats wants a positive integer, got '" + v + "'");
        repeats = std::stoi(v);
      }
      if (a == "--target") {
        const auto eq = v.find('=');
        if (eq == std::string::npos)
          throw std::invalid_argument("--target wants NAME=MIN, got " + v);
        const std::string min = v.substr(eq + 1);
        char* end = nullptr;
        const double value = std::strtod(min.c_str(), &end);
        if (min.empty() || *end != '\0' || !(value >= -1.0 && value <= 1.0))
          throw std::invalid_argument("--target " + v +
                                      ": the minimum mean cosine must be a number in [-1, 1]");
        targets[v.substr(0, eq)] = value;
      }
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() < 4) {
    throw std::invalid_argument(
        "usage: sentence_embeddings MODEL.pt CALIB.pt EVAL.pt NAME=CONFIG.yaml... "
        "[--markdown OUT.md] [--json OUT.json] [--target NAME=MIN_MEAN_COS]... [--repeats N]");
  }
  torch::NoGradGuard no_grad;
  const auto t_load = Clock::now();
  torch::jit::Module model = coreai_opt::io::load_module(pos[0]);
  model.eval();
  const auto calib = load_batches(pos[1]);
  const auto evals = load_batches(pos[2]);
  std::cerr << "loaded " << pos[0] << ", " << count_rows(calib) << " calibration and "
            << count_rows(evals) << " evaluation sentences in " << fixed(seconds_since(t_load), 1)
            << " s\n";

  const torch::Tensor reference = run_all(model, evals);
  const double float_ms = latency_ms(model, evals, repeats);

  std::vector<Row> rows;
  for (std::size_t c = 3; c < pos.size(); ++c) {
    Row r;
    const auto eq = pos[c].find('=');
    if (eq == std::string::npos)
      throw std::invalid_argument("expected NAME=CONFIG.yaml, got " + pos[c]);
    r.name = pos[c].substr(0, eq);
    r.config = pos[c].substr(eq + 1);
    std::cerr << "[" << r.name << "] " << r.config << "\n";
    cq::Quantizer q(model, cq::QuantizerConfig::from_yaml(r.config));

    auto t0 = Clock::now();
    torch::jit::Module prepared = q.prepare(calib.front()).script_module();
    r.prepare_s = seconds_since(t0);
    for (const auto& fq : q.fake_quants()) (fq.weight ? r.weight_points : r.activation_points)++;

    t0 = Clock::now();
    {
      auto guard = q.calibration_mode();
      for (const auto& b : calib) prepared.forward(b);
    }
    r.calibrate_s = seconds_since(t0);

    const torch::Tensor out = run_all(prepared, evals);
    const auto cos = torch::nn::functional::cosine_similarity(
        out, reference, torch::nn::functional::CosineSimilarityFuncOptions().dim(1));
    r.mean_cos = cos.mean().item<double>();
    r.worst_cos = cos.min().item<double>();
    r.prepared_ms = latency_ms(prepared, evals, repeats);

    t0 = Clock::now();
    const cq::FinalizeResult done = q.finalize();
    torch::jit::Module final_model = done.model.script_module();
    r.finalize_s = seconds_since(t0);
    r.bytes_before = done.report.parameter_bytes_before;
    r.bytes_after = done.report.parameter_bytes_after;
    const torch::Tensor final_out = run_all(final_model, evals);
    r.final_mean_cos =
        torch::nn::functional::cosine_similarity(
            final_out, reference, torch::nn::functional::CosineSimilarityFuncOptions().dim(1))
            .mean()
            .item<double>();
    r.final_ms = latency_ms(final_model, evals, repeats);
    r.float_ms = float_ms;
    std::cerr << "  mean cos " << fixed(r.mean_cos, 4) << " (finalized "
              << fixed(r.final_mean_cos, 4) << "), worst " << fixed(r.worst_cos, 4) << ", "
              << r.bytes_before << " -> " << r.bytes_after << " bytes\n";
    rows.push_back(r);
  }

  const std::string header = "Sentence embeddings of " + std::to_string(count_rows(evals)) +
                             " evaluation sentences, against the float model (calibration: " +
                             std::to_string(count_rows(calib)) +
                             " other sentences; latency: " + "median ms per batch of " +
                             std::to_string(evals.front().front().toTensor().size(0)) + ").\n\n";
  const std::string table = markdown(rows, header);
  std::cout << table;
  if (!md_path.empty()) std::ofstream(md_path) << table;
  if (!json_path.empty())
    std::ofstream(json_path) << json(rows, count_rows(evals), count_rows(calib));

  int missed = 0;
  for (const auto& [name, min] : targets) {
    const auto it =
        std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.name == name; });
    if (it == rows.end()) throw std::invalid_argument("--target names no config: " + name);
    const bool ok = it->mean_cos >= min;
    std::cout << "target " << name << ": mean cosine " << fixed(it->mean_cos, 4)
              << (ok ? " >= " : " < ") << fixed(min, 2) << (ok ? "  ok" : "  MISSED") << "\n";
    missed += ok ? 0 : 1;
  }
  return missed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "sentence_embeddings: error: " << coreai_opt::io::error_summary(e) << "\n";
  }
  return 2;
}
