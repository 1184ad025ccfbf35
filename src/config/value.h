// A parsed config document, independent of its syntax: YAML and JSON both become
// a Value tree (with source locations for YAML), and the writers produce one.
// Internal to the core library.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "coreai_opt/errors.h"

namespace coreai_opt {
namespace detail {

struct Value {
  enum class Kind : std::uint8_t { kNull, kBool, kInt, kFloat, kString, kSeq, kMap };

  Kind kind = Kind::kNull;
  bool b = false;
  std::int64_t i = 0;
  double f = 0.0;
  std::string s;
  std::vector<Value> items;                       // kSeq
  std::vector<std::pair<Value, Value>> entries;   // kMap, in document order
  SourceLocation loc;                             // where the node starts (YAML only)

  static Value null() { return Value{}; }
  static Value boolean(bool v) { Value x; x.kind = Kind::kBool; x.b = v; return x; }
  static Value integer(std::int64_t v) { Value x; x.kind = Kind::kInt; x.i = v; return x; }
  static Value number(double v) { Value x; x.kind = Kind::kFloat; x.f = v; return x; }
  static Value string(std::string v) { Value x; x.kind = Kind::kString; x.s = std::move(v); return x; }
  static Value seq() { Value x; x.kind = Kind::kSeq; return x; }
  static Value map() { Value x; x.kind = Kind::kMap; return x; }

  bool is_null() const { return kind == Kind::kNull; }
  bool is_map() const { return kind == Kind::kMap; }
  bool is_seq() const { return kind == Kind::kSeq; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_int() const { return kind == Kind::kInt; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  double as_double() const { return kind == Kind::kInt ? static_cast<double>(i) : f; }

  /// Appends a map entry with a string key.
  Value& add(std::string key, Value v) {
    entries.emplace_back(Value::string(std::move(key)), std::move(v));
    return entries.back().second;
  }
  Value& push(Value v) {
    items.push_back(std::move(v));
    return items.back();
  }
  /// The entry with string key `key`, or nullptr.
  const Value* find(const std::string& key) const {
    for (const auto& e : entries) {
      if (e.first.kind == Kind::kString && e.first.s == key) return &e.second;
    }
    return nullptr;
  }

  /// "a mapping", "a string 'x'", "an integer (3)", ... for messages.
  std::string describe() const;
};

/// Parses YAML text (YAML 1.1 scalar typing as PyYAML's safe_load: `yes`/`no`
/// are booleans, `~` null, merge keys `<<` applied, anchors and aliases
/// resolved). Duplicate keys are errors. Throws ConfigError with file:line:col.
Value parse_yaml(const std::string& text, const std::string& file);
/// Parses JSON text. Throws ConfigError with file:line:col of syntax errors.
Value parse_json(const std::string& text, const std::string& file);

/// Block-style YAML; strings quoted whenever plain text would read as another type.
std::string emit_yaml(const Value& v);
/// JSON with `indent` spaces (-1: one line). Non-string keys become strings.
std::string emit_json(const Value& v, int indent);

}  // namespace detail
}  // namespace coreai_opt
