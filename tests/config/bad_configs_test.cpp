// Golden error texts of the malformed-config corpus in tests/data/bad_configs.
//
// Every NAME.yaml there has a sibling NAME.expected holding one line, the
// `coreai-opt validate` output without its leading `FILE:`:
//   LINE:COL: error: CONFIG.PATH: message
//   LINE:COL: error: message          (no config path, e.g. YAML syntax errors)
//   error: CONFIG.PATH: message       (no location known)
// The cases are discovered at run time, so adding a pair of files adds a test.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "coreai_opt/errors.h"
#include "coreai_opt/quantization/config.h"

namespace coreai_opt::quantization {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMinCases = 35;

fs::path corpus_dir() { return fs::path(COREAI_OPT_TEST_DATA) / "bad_configs"; }

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(corpus_dir(), ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") {
      names.push_back(entry.path().stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Expected {
  int line = 0;  // 0: no location
  int column = 0;
  std::string path;
  std::string message;
};

// A config path: `quantization_config.global_config.op_input_spec["*"].dtype`,
// `...block_size[2]`, `...module_name_configs["enc\\..*"]`.
bool is_config_path(const std::string& s) {
  static const std::regex kPath(
      R"([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[-?[0-9]+\]|\["(\\.|[^"\\])*"\])*)");
  return std::regex_match(s, kPath);
}

// Splits `PATH: message` at the first ": " outside a quoted path key; the
// prefix is a path only if it reads as one ("invalid YAML: ..." does not).
void split_path(const std::string& rest, Expected& out) {
  bool quoted = false;
  for (std::size_t i = 0; i + 1 < rest.size(); ++i) {
    const char c = rest[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == ':' && rest[i + 1] == ' ') {
      const std::string head = rest.substr(0, i);
      if (is_config_path(head)) {
        out.path = head;
        out.message = rest.substr(i + 2);
        return;
      }
      break;
    }
  }
  out.message = rest;
}

// Parses NAME.expected; records a test failure and returns false when malformed.
bool parse_expected(const std::string& text, Expected& out) {
  std::string line = text;
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (line.empty() || line.find('\n') != std::string::npos || line.find('\r') != std::string::npos) {
    ADD_FAILURE() << "an .expected file must hold exactly one line, got:\n" << text;
    return false;
  }
  static const std::regex kLocated(R"(([0-9]+):([0-9]+): error: (.+))");
  static const std::regex kUnlocated(R"(error: (.+))");
  std::smatch m;
  std::string rest;
  if (std::regex_match(line, m, kLocated)) {
    out.line = std::stoi(m[1].str());
    out.column = std::stoi(m[2].str());
    rest = m[3].str();
  } else if (std::regex_match(line, m, kUnlocated)) {
    rest = m[1].str();
  } else {
    ADD_FAILURE() << "malformed .expected line (want 'LINE:COL: error: ...' or 'error: ...'): "
                  << line;
    return false;
  }
  split_path(rest, out);
  return true;
}

TEST(BadConfigsCorpus, HasAtLeast35Cases) {
  EXPECT_GE(case_names().size(), kMinCases) << "corpus: " << corpus_dir();
}

TEST(BadConfigsCorpus, EveryExpectedFileHasItsYaml) {
  std::error_code ec;
  std::size_t expected_files = 0;
  for (const auto& entry : fs::directory_iterator(corpus_dir(), ec)) {
    if (entry.path().extension() != ".expected") continue;
    ++expected_files;
    fs::path yaml = entry.path();
    yaml.replace_extension(".yaml");
    EXPECT_TRUE(fs::exists(yaml)) << entry.path() << " has no .yaml sibling";
  }
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(expected_files, case_names().size());
}

TEST(BadConfigsCorpus, ExpectedLineParser) {
  Expected a;
  ASSERT_TRUE(parse_expected(
      "5:7: error: quantization_config.module_name_configs[\"a: \\\"b\\\\.*\"].op_input_spec[0]: "
      "bad: value\n",
      a));
  EXPECT_EQ(a.line, 5);
  EXPECT_EQ(a.column, 7);
  EXPECT_EQ(a.path, "quantization_config.module_name_configs[\"a: \\\"b\\\\.*\"].op_input_spec[0]");
  EXPECT_EQ(a.message, "bad: value");

  Expected b;
  ASSERT_TRUE(parse_expected("12:3: error: invalid YAML: illegal map value", b));
  EXPECT_EQ(b.line, 12);
  EXPECT_EQ(b.column, 3);
  EXPECT_EQ(b.path, "");
  EXPECT_EQ(b.message, "invalid YAML: illegal map value");

  Expected c;
  ASSERT_TRUE(parse_expected("error: quantization_config.execution_mode: invalid", c));
  EXPECT_EQ(c.line, 0);
  EXPECT_EQ(c.path, "quantization_config.execution_mode");
  EXPECT_EQ(c.message, "invalid");
}

class BadConfig : public ::testing::TestWithParam<std::string> {};

TEST_P(BadConfig, FailsWithTheExpectedError) {
  const fs::path yaml = corpus_dir() / (GetParam() + ".yaml");
  const fs::path expected_file = corpus_dir() / (GetParam() + ".expected");
  ASSERT_TRUE(fs::exists(expected_file)) << yaml << " has no .expected sibling";
  Expected want;
  ASSERT_TRUE(parse_expected(read_text(expected_file), want));

  const std::string file = yaml.string();
  try {
    QuantizerConfig::from_yaml(file);
    FAIL() << file << " loaded without error; expected: " << read_text(expected_file);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), want.path);
    EXPECT_EQ(e.message(), want.message);
    if (want.line == 0) {
      EXPECT_FALSE(e.location().known())
          << "at " << e.location().line << ":" << e.location().column;
    } else {
      EXPECT_EQ(e.location().line, want.line);
      EXPECT_EQ(e.location().column, want.column);
      EXPECT_EQ(e.location().file, file);
    }
  } catch (const std::exception& e) {
    FAIL() << "expected coreai_opt::ConfigError, got another exception: " << e.what();
  }
}

// gtest names allow only letters, digits and '_'.
std::string case_test_name(const ::testing::TestParamInfo<std::string>& param_info) {
  std::string name = param_info.param;
  for (char& c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!ok) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadConfig, ::testing::ValuesIn(case_names()), case_test_name);

}  // namespace
}  // namespace coreai_opt::quantization
