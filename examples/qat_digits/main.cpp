// qat_digits: trains a small CNN on the UCI handwritten-digits data set (8x8
// images, 10 classes; scikit-learn ships it as digits.csv.gz), then quantizes
// it in eager mode with each config of a directory: post-training quantization
// (calibration only) and quantization-aware training (a few epochs of QAT from
// the float weights). Prints config, accuracy, parameter bytes and time.
//
//   qat_digits DIGITS_CSV_GZ CONFIG_DIR [--short] [--check]
//
// --short trains fewer epochs (the test); --check exits with status 1 unless
// W8A8 PTQ is within 1 point of float and W4 QAT within 2 points.
#include <coreai_opt/torch/nn.h>
#include <coreai_opt/torch/quantizer.h>
#include <coreai_opt/warnings.h>
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace cq = coreai_opt::quantization;
namespace cnn = coreai_opt::nn;

namespace {

struct Data {
  torch::Tensor x_train, y_train, x_test, y_test;
};

// Reads the gzip-compressed CSV: 64 pixel values (0..16) and the label per row.
Data load_digits(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::string text;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  gzclose(f);
  std::vector<float> pixels;
  std::vector<int64_t> labels;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    std::vector<float> row;
    std::istringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) row.push_back(std::stof(cell));
    if (row.size() != 65) throw std::runtime_error("unexpected row in " + path + ": " + line);
    pixels.insert(pixels.end(), row.begin(), row.begin() + 64);
    labels.push_back(static_cast<int64_t>(row[64]));
  }
  const auto count = static_cast<int64_t>(labels.size());
  auto x = torch::from_blob(pixels.data(), {count, 1, 8, 8}, torch::kFloat).clone() / 16.0;
  auto y = torch::from_blob(labels.data(), {count}, torch::kLong).clone();
  torch::manual_seed(0);
  auto perm = torch::randperm(count);
  const int64_t n_train = count * 4 / 5;
  Data d;
  d.x_train = x.index_select(0, perm.slice(0, 0, n_train));
  d.y_train = y.index_select(0, perm.slice(0, 0, n_train));
  d.x_test = x.index_select(0, perm.slice(0, n_train));
  d.y_test = y.index_select(0, perm.slice(0, n_train));
  return d;
}

// The activations are quantized where the model uses coreai_opt::nn modules:
// the stub (network input) and the drop-in convolutions and linears.
struct DigitsNetImpl : torch::nn::Module {
  DigitsNetImpl() {
    quant_in = register_module("quant_in", cnn::QuantStub());
    conv1 = register_module("conv1", cnn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3).padding(1)));
    conv2 = register_module("conv2", cnn::Conv2d(torch::nn::Conv2dOptions(32, 32, 3).padding(1)));
    fc1 = register_module("fc1", cnn::Linear(32 * 4 * 4, 64));
    fc2 = register_module("fc2", cnn::Linear(64, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(conv1(quant_in(x)));
    x = torch::max_pool2d(torch::relu(conv2(x)), 2);
    x = torch::relu(fc1(x.flatten(1)));
    return fc2(x);
  }
  cnn::QuantStub quant_in{nullptr};
  cnn::Conv2d conv1{nullptr}, conv2{nullptr};
  cnn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(DigitsNet);

DigitsNet copy_of(const DigitsNet& src) {
  DigitsNet dst;
  torch::NoGradGuard g;
  auto from = src->named_parameters();
  for (auto& p : dst->named_parameters()) p.value().copy_(from[p.key()]);
  return dst;
}

double accuracy(DigitsNet& model, const Data& d) {
  torch::NoGradGuard g;
  const bool was_training = model->is_training();
  model->eval();
  auto pred = model->forward(d.x_test).argmax(1);
  model->train(was_training);
  return 100.0 * pred.eq(d.y_test).sum().item<double>() / static_cast<double>(d.y_test.size(0));
}

// One epoch of minibatch training; `after_step` runs after every optimizer step.
void train_epoch(DigitsNet& model, torch::optim::Optimizer& opt, const Data& d, int64_t epoch,
                 const std::function<void()>& after_step = {}) {
  model->train();
  const int64_t n = d.x_train.size(0), batch = 32;
  torch::manual_seed(100 + epoch);
  auto perm = torch::randperm(n);
  for (int64_t i = 0; i < n; i += batch) {
    auto idx = perm.slice(0, i, std::min(n, i + batch));
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(d.x_train.index_select(0, idx)),
                                                     d.y_train.index_select(0, idx));
    loss.backward();
    opt.step();
    if (after_step) after_step();
  }
}

struct Row {
  std::string config;
  double accuracy;
  int64_t bytes;
  double seconds;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool short_run = std::find(args.begin(), args.end(), "--short") != args.end();
  const bool check = std::find(args.begin(), args.end(), "--check") != args.end();
  args.erase(std::remove_if(args.begin(), args.end(),
                            [](const std::string& a) { return a.rfind("--", 0) == 0; }),
             args.end());
  if (args.size() != 2) {
    std::cerr << "usage: qat_digits DIGITS_CSV_GZ CONFIG_DIR [--short] [--check]\n";
    return 2;
  }
  torch::set_num_threads(std::min(2, torch::get_num_threads()));
  // Quantizer warnings (layers a block size does not divide) go to one list.
  std::vector<std::string> notes;
  coreai_opt::set_warning_handler([&](const std::string& m) { notes.push_back(m); });

  const Data data = load_digits(args[0]);
  const int float_epochs = short_run ? 10 : 20;
  const int qat_epochs = short_run ? 3 : 6;
  std::vector<Row> rows;

  torch::manual_seed(1);
  DigitsNet float_model;
  auto t0 = std::chrono::steady_clock::now();
  {
    torch::optim::Adam opt(float_model->parameters(), torch::optim::AdamOptions(2e-3));
    for (int e = 0; e < float_epochs; ++e) train_epoch(float_model, opt, data, e);
  }
  const double float_acc = accuracy(float_model, data);
  rows.push_back({"float", float_acc, cq::Model(float_model).state_bytes(), seconds_since(t0)});

  std::vector<std::filesystem::path> configs;
  for (const auto& e : std::filesystem::directory_iterator(args[1])) {
    if (e.path().extension() == ".yaml") configs.push_back(e.path());
  }
  std::sort(configs.begin(), configs.end());
  const auto example = data.x_train.slice(0, 0, 64);
  std::map<std::string, double> acc;
  for (const auto& path : configs) {
    const auto config = cq::QuantizerConfig::from_yaml(path.string());
    const std::string name = path.stem().string();

    // PTQ: prepare (data-free weights, activation scales from the example),
    // then calibrate the activation observers on training batches.
    t0 = std::chrono::steady_clock::now();
    DigitsNet ptq = copy_of(float_model);
    cq::Quantizer q(ptq, config);
    q.prepare({example});
    {
      auto calib = q.calibration_mode();
      torch::NoGradGuard g;
      for (int64_t i = 0; i < data.x_train.size(0); i += 128) {
        ptq->forward(data.x_train.slice(0, i, i + 128));
      }
    }
    const auto report = q.finalize().report;
    acc[name + " PTQ"] = accuracy(ptq, data);
    rows.push_back(
        {name + " PTQ", acc[name + " PTQ"], report.parameter_bytes_after, seconds_since(t0)});

    // QAT from the float weights: the optimizer is built after prepare().
    t0 = std::chrono::steady_clock::now();
    DigitsNet qat = copy_of(float_model);
    cq::Quantizer qq(qat, config);
    qq.prepare({example});
    {
      auto calib = qq.calibration_mode();
      torch::NoGradGuard g;
      qat->forward(data.x_train.slice(0, 0, 512));
    }
    {
      torch::optim::Adam opt(qat->parameters(), torch::optim::AdamOptions(5e-4));
      auto training = qq.training_mode();
      for (int e = 0; e < qat_epochs; ++e) {
        train_epoch(qat, opt, data, 1000 + e, [&] { qq.step(); });
      }
    }
    const auto qat_report = qq.finalize().report;
    acc[name + " QAT"] = accuracy(qat, data);
    rows.push_back(
        {name + " QAT", acc[name + " QAT"], qat_report.parameter_bytes_after, seconds_since(t0)});
  }

  std::printf("%-22s %9s %12s %8s\n", "config", "accuracy", "param bytes", "time s");
  for (const auto& r : rows) {
    std::printf("%-22s %8.2f%% %12lld %8.2f\n", r.config.c_str(), r.accuracy,
                static_cast<long long>(r.bytes), r.seconds);
  }
  std::sort(notes.begin(), notes.end());
  notes.erase(std::unique(notes.begin(), notes.end()), notes.end());
  for (const auto& n : notes) std::printf("note: %s\n", n.c_str());

  if (check) {
    bool ok = true;
    auto expect = [&](const std::string& key, double tolerance) {
      if (acc.count(key) == 0) {
        std::printf("check: %s missing\n", key.c_str());
        ok = false;
      } else if (acc[key] < float_acc - tolerance) {
        std::printf("check: %s accuracy %.2f%% is more than %.1f points below float %.2f%%\n",
                    key.c_str(), acc[key], tolerance, float_acc);
        ok = false;
      }
    };
    expect("w8a8 PTQ", 1.0);
    expect("w4_block32 QAT", 2.0);
    std::printf("check: %s\n", ok ? "passed" : "FAILED");
    return ok ? 0 : 1;
  }
  return 0;
}
