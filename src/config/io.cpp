// Public entry points of config I/O.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/schema.h"
#include "config/value.h"
#include "coreai_opt/quantization/config.h"

namespace coreai_opt {
namespace quantization {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError("", "cannot open config file '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool looks_like_json(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
}

}  // namespace

QuantizerConfig QuantizerConfig::from_yaml(const std::string& path) {
  const std::string text = read_file(path);
  // JSON is YAML, but JSON files get JSON error messages.
  if (looks_like_json(path)) return from_json(text, path);
  return from_yaml_string(text, path);
}

QuantizerConfig QuantizerConfig::from_yaml_string(const std::string& text,
                                                  const std::string& source_name) {
  return detail::decode_document(detail::parse_yaml(text, source_name), source_name);
}

QuantizerConfig QuantizerConfig::from_json(const std::string& text,
                                           const std::string& source_name) {
  return detail::decode_document(detail::parse_json(text, source_name), source_name);
}

std::string QuantizerConfig::to_yaml() const {
  return detail::emit_yaml(detail::encode_document(*this));
}

std::string QuantizerConfig::to_json(int indent) const {
  return detail::emit_json(detail::encode_document(*this), indent);
}

}  // namespace quantization
}  // namespace coreai_opt

#include "coreai_opt/quantization/schema.h"

namespace coreai_opt {
namespace quantization {

std::string config_json_schema() { return detail::json_schema(); }
std::string config_key_reference_markdown() { return detail::key_reference_markdown(); }

std::string spec_to_json(const QuantizationSpec& spec, int indent) {
  std::string out = detail::emit_json(detail::encode_spec(spec), indent);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

QuantizationSpec spec_from_json(const std::string& text) {
  return detail::decode_spec_value(detail::parse_json(text, "<spec>"), "spec", "<spec>");
}

}  // namespace quantization
}  // namespace coreai_opt
