// Config paths for error messages: `quantization_config.module_name_configs["enc.*"].op_state_spec.weight`.
#pragma once

#include <cstdint>
#include <string>

namespace coreai_opt {
namespace detail {

/// `base.field` (or `field` when base is empty).
inline std::string path_field(const std::string& base, const std::string& field) {
  return base.empty() ? field : base + "." + field;
}

inline bool is_identifier(const std::string& s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (digit && i > 0))) return false;
  }
  return true;
}

/// `base["key"]` with `"` and `\` escaped.
inline std::string path_key(const std::string& base, const std::string& key) {
  std::string out = base + "[\"";
  for (char c : key) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"]";
}

/// `base[3]`.
inline std::string path_index(const std::string& base, std::int64_t index) {
  return base + "[" + std::to_string(index) + "]";
}

/// A key of a spec dict: `.weight` for identifiers, `["*"]` otherwise.
inline std::string path_spec_key(const std::string& base, const std::string& key) {
  return is_identifier(key) ? path_field(base, key) : path_key(base, key);
}

}  // namespace detail
}  // namespace coreai_opt

#include <charconv>
#include <system_error>

namespace coreai_opt {
namespace detail {

/// Shortest round-trip text of a double, Python style (`1.0`, `0.01`, `1e-05`).
inline std::string format_number(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";
  return s;
}

}  // namespace detail
}  // namespace coreai_opt
