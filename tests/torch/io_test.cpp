// coreai_opt::io: batch files in every accepted form and one-line errors.
#include "coreai_opt/torch/io.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include "coreai_opt/errors.h"

namespace coreai_opt {
namespace {

std::string write_pickle(const c10::IValue& v, const std::string& name) {
  const std::string path = ::testing::TempDir() + "/io_test_" + name + ".pt";
  const std::vector<char> bytes = torch::pickle_save(v);  // the format of Python's torch.save
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::string error_of(const std::string& path) {
  try {
    io::load_batches(path);
  } catch (const InvalidArgumentError& e) {
    return e.what();
  }
  return "";
}

TEST(Io, ListOfTuplesListOfTensorsAndOneBatch) {
  const at::Tensor a = torch::arange(6).reshape({2, 3});
  const at::Tensor b = torch::ones({2, 3});
  c10::impl::GenericList tuples(c10::AnyType::get());
  tuples.push_back(c10::ivalue::Tuple::create({a, b}));
  tuples.push_back(c10::ivalue::Tuple::create({b, a}));
  auto batches = io::load_batches(write_pickle(tuples, "tuples"));
  ASSERT_EQ(batches.size(), 2u);
  ASSERT_EQ(batches[1].size(), 2u);
  EXPECT_TRUE(at::equal(batches[1][1].toTensor(), a));

  c10::impl::GenericList tensors(c10::TensorType::get());
  tensors.push_back(a);
  tensors.push_back(b);
  tensors.push_back(a);
  batches = io::load_batches(write_pickle(tensors, "tensors"));
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].size(), 1u);

  batches = io::load_batches(write_pickle(c10::ivalue::Tuple::create({a, b}), "one"));
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].size(), 2u);
}

TEST(Io, BadFilesAreOneLine) {
  EXPECT_EQ(error_of("/nonexistent/calib.pt"),
            "cannot open '/nonexistent/calib.pt': No such file or directory");
  c10::impl::GenericDict d(c10::StringType::get(), c10::TensorType::get());
  d.insert("x", torch::ones({1}));
  const std::string dict = write_pickle(d, "dict");
  EXPECT_EQ(error_of(dict), "'" + dict + "': a dict, not a Tensor or a tuple of Tensors");
  c10::impl::GenericList mixed(c10::AnyType::get());
  mixed.push_back(c10::ivalue::Tuple::create({torch::ones({1}), c10::IValue(int64_t{3})}));
  EXPECT_EQ(error_of(write_pickle(mixed, "mixed")),
            "calibration batch 0: element 1 is a int, not a Tensor");
  const std::string text = ::testing::TempDir() + "/io_test_text.pt";
  std::ofstream(text) << "not a zip archive\n";
  const std::string e = error_of(text);
  EXPECT_EQ(e.rfind("'" + text + "' is not a file written by torch.save (", 0), 0u) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  EXPECT_EQ(e.find("Exception raised from"), std::string::npos) << e;
}

TEST(Io, ErrorSummaryOfAnInterpreterError) {
  const std::runtime_error e(
      "The following operation failed in the TorchScript interpreter.\n"
      "Traceback of TorchScript, serialized code (most recent call last):\n"
      "  File \"code/__torch__.py\", line 9, in forward\n"
      "    _0 = torch.linear(x, w)\n"
      "         ~~~~~~~~~~~~ <--- HERE\n"
      "RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x3 and 5x8)\n");
  EXPECT_EQ(io::error_summary(e), "mat1 and mat2 shapes cannot be multiplied (4x3 and 5x8)");
  EXPECT_EQ(io::error_summary(std::runtime_error("first\nsecond")), "first");
}

}  // namespace
}  // namespace coreai_opt
