#include "config/value.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "config/path.h"

namespace coreai_opt {
namespace detail {

std::string Value::describe() const {
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBool:
      return std::string("a boolean (") + (s.empty() ? (b ? "true" : "false") : s) + ")";
    case Kind::kInt: return "an integer (" + std::to_string(i) + ")";
    case Kind::kFloat: return "a number (" + format_number(f) + ")";
    case Kind::kString: return "a string '" + s + "'";
    case Kind::kSeq: return "a list";
    case Kind::kMap: return "a mapping";
  }
  return "?";
}

// ----------------------------------------------------------------- YAML input
namespace {

constexpr int kMaxDepth = 200;

SourceLocation location_of(const YAML::Mark& m, const std::string& file) {
  if (m.line < 0) return SourceLocation{file, 0, 0};
  return SourceLocation{file, m.line + 1, m.column + 1};
}

std::string strip_underscores(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c != '_') out += c;
  }
  return out;
}

// Plain-scalar typing of PyYAML's SafeLoader (YAML 1.1), sexagesimal forms aside.
Value resolve_plain(const std::string& text, const SourceLocation& loc) {
  static const std::regex kBool(
      "yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF");
  static const std::regex kNull("~|null|Null|NULL|");
  static const std::regex kInt(
      "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+");
  static const std::regex kFloat(
      "[-+]?([0-9][0-9_]*)\\.[0-9_]*([eE][-+][0-9]+)?|\\.[0-9_]+([eE][-+][0-9]+)?|"
      "[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  Value v;
  if (std::regex_match(text, kNull)) {
    v = Value::null();
  } else if (std::regex_match(text, kBool)) {
    const char c = text[0];
    v = Value::boolean(c == 'y' || c == 'Y' || c == 't' || c == 'T' ||
                       ((c == 'o' || c == 'O') && (text[1] == 'n' || text[1] == 'N')));
    v.s = text;  // the original spelling, for messages (`yes`)
  } else if (std::regex_match(text, kInt)) {
    std::string t = strip_underscores(text);
    bool neg = false;
    if (t[0] == '+' || t[0] == '-') {
      neg = t[0] == '-';
      t = t.substr(1);
    }
    int base = 10;
    if (t.rfind("0b", 0) == 0) {
      base = 2;
      t = t.substr(2);
    } else if (t.rfind("0x", 0) == 0) {
      base = 16;
      t = t.substr(2);
    } else if (t.size() > 1 && t[0] == '0') {
      base = 8;
    }
    errno = 0;
    char* end = nullptr;
    const unsigned long long mag = std::strtoull(t.c_str(), &end, base);
    const auto limit = static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max());
    if (errno == ERANGE || mag > limit + (neg ? 1ULL : 0ULL)) {
      throw ConfigError("", "integer " + text + " does not fit in 64 bits", loc);
    }
    v = Value::integer(neg ? static_cast<std::int64_t>(0ULL - mag) : static_cast<std::int64_t>(mag));
  } else if (std::regex_match(text, kFloat)) {
    const std::string t = strip_underscores(text);
    if (t.find("inf") != std::string::npos || t.find("Inf") != std::string::npos ||
        t.find("INF") != std::string::npos) {
      v = Value::number(t[0] == '-' ? -std::numeric_limits<double>::infinity()
                                    : std::numeric_limits<double>::infinity());
    } else if (t.find("nan") != std::string::npos || t.find("NaN") != std::string::npos ||
               t.find("NAN") != std::string::npos) {
      v = Value::number(std::numeric_limits<double>::quiet_NaN());
    } else {
      v = Value::number(std::strtod(t.c_str(), nullptr));
    }
  } else {
    v = Value::string(text);
  }
  v.loc = loc;
  return v;
}

// Applies a `<<` merge source: keys not yet present are appended.
void merge_into(Value& target, const Value& source, const SourceLocation& loc) {
  if (!source.is_map()) {
    throw ConfigError("", "merge key '<<' needs a mapping or a list of mappings, got " +
                              source.describe(), loc);
  }
  for (const auto& entry : source.entries) {
    bool present = false;
    for (const auto& existing : target.entries) {
      if (existing.first.kind == entry.first.kind && existing.first.s == entry.first.s &&
          existing.first.i == entry.first.i && existing.first.b == entry.first.b) {
        present = true;
        break;
      }
    }
    if (!present) target.entries.push_back(entry);
  }
}

bool same_key(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kNull: return true;
    case Value::Kind::kBool: return a.b == b.b;
    case Value::Kind::kInt: return a.i == b.i;
    case Value::Kind::kFloat: return a.f == b.f;
    case Value::Kind::kString: return a.s == b.s;
    default: return false;
  }
}

std::string key_text(const Value& k) {
  return k.kind == Value::Kind::kString ? "'" + k.s + "'" : k.describe();
}

void check_collection_tag(const YAML::Node& node, const char* plain_tag, const SourceLocation& loc) {
  const std::string& tag = node.Tag();
  if (!tag.empty() && tag != "?" && tag != "!" && tag != plain_tag) {
    throw ConfigError("", "unsupported YAML tag '" + tag + "'", loc);
  }
}

Value convert(const YAML::Node& node, const std::string& file, int depth) {
  const SourceLocation loc = location_of(node.Mark(), file);
  if (depth > kMaxDepth) throw ConfigError("", "document nests too deeply", loc);
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null: {
      Value v = Value::null();
      v.loc = loc;
      return v;
    }
    case YAML::NodeType::Scalar: {
      const std::string& tag = node.Tag();
      const std::string& text = node.Scalar();
      if (tag == "!" || tag == "tag:yaml.org,2002:str") {
        Value v = Value::string(text);
        v.loc = loc;
        return v;
      }
      if (tag == "?" || tag.empty()) return resolve_plain(text, loc);
      if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
          tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
        Value v = resolve_plain(text, loc);
        return v;
      }
      throw ConfigError("", "unsupported YAML tag '" + tag + "'", loc);
    }
    case YAML::NodeType::Sequence: {
      check_collection_tag(node, "tag:yaml.org,2002:seq", loc);
      Value v = Value::seq();
      v.loc = loc;
      for (const auto& item : node) v.push(convert(item, file, depth + 1));
      return v;
    }
    case YAML::NodeType::Map: {
      check_collection_tag(node, "tag:yaml.org,2002:map", loc);
      Value v = Value::map();
      v.loc = loc;
      std::vector<Value> merges;
      for (const auto& kv : node) {
        Value key = convert(kv.first, file, depth + 1);
        if (key.kind == Value::Kind::kString && key.s == "<<" && kv.first.Tag() == "?") {
          Value src = convert(kv.second, file, depth + 1);
          if (src.is_seq()) {
            for (const auto& s : src.items) merges.push_back(s);
          } else {
            merges.push_back(std::move(src));
          }
          continue;
        }
        if (key.kind == Value::Kind::kSeq || key.kind == Value::Kind::kMap) {
          throw ConfigError("", "mapping keys must be scalars, got " + key.describe(), key.loc);
        }
        for (const auto& existing : v.entries) {
          if (same_key(existing.first, key)) {
            throw ConfigError("", "duplicate key " + key_text(key) + " (first defined at line " +
                                      std::to_string(existing.first.loc.line) + ")",
                              key.loc);
          }
        }
        Value val = convert(kv.second, file, depth + 1);
        // An empty value (`key:` and nothing) has no position of its own; yaml-cpp
        // reports the next token's. Point at the key instead.
        if (val.is_null() && (val.loc.line != key.loc.line || !val.loc.known())) val.loc = key.loc;
        v.entries.emplace_back(std::move(key), std::move(val));
      }
      // Explicit keys win over merged ones; earlier merge sources win over later.
      for (const auto& m : merges) merge_into(v, m, loc);
      return v;
    }
  }
  return Value::null();
}

// The first line up to `last_line` (1-based) whose indentation contains a tab.
int tab_indented_line(const std::string& text, int last_line) {
  int line = 1;
  bool at_indent = true;
  for (char c : text) {
    if (line > last_line) break;
    if (c == '\n') {
      ++line;
      at_indent = true;
    } else if (at_indent && c == '\t') {
      return line;
    } else if (c != ' ') {
      at_indent = false;
    }
  }
  return 0;
}

std::string explain_yaml_error(const std::string& msg) {
  if (msg == "end of map flow not found") return "a '{' mapping is never closed with '}'";
  if (msg == "end of sequence flow not found") return "a '[' list is never closed with ']'";
  if (msg == "illegal map value") {
    return "illegal map value (check the indentation, and that each key is followed by ': ')";
  }
  if (msg == "end of map not found") return "end of mapping not found (check the indentation)";
  return msg;
}

}  // namespace

Value parse_yaml(const std::string& text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    const int tab_line = tab_indented_line(text, e.mark.line + 1);
    if (tab_line > 0) {
      throw ConfigError("", "invalid YAML: tab character used for indentation; YAML allows only "
                            "spaces",
                        SourceLocation{file, tab_line, 1});
    }
    throw ConfigError("", "invalid YAML: " + explain_yaml_error(e.msg), location_of(e.mark, file));
  } catch (const YAML::Exception& e) {
    throw ConfigError("", std::string("invalid YAML: ") + e.what(), location_of(e.mark, file));
  }
  try {
    return convert(root, file, 0);
  } catch (const YAML::Exception& e) {
    throw ConfigError("", "invalid YAML: " + e.msg, location_of(e.mark, file));
  }
}

// ----------------------------------------------------------------- JSON input
namespace {

using ojson = nlohmann::ordered_json;

Value from_ojson(const ojson& j) {
  switch (j.type()) {
    case ojson::value_t::null: return Value::null();
    case ojson::value_t::boolean: return Value::boolean(j.get<bool>());
    case ojson::value_t::number_integer: return Value::integer(j.get<std::int64_t>());
    case ojson::value_t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw ConfigError("", "integer " + std::to_string(u) + " does not fit in 64 bits");
      }
      return Value::integer(static_cast<std::int64_t>(u));
    }
    case ojson::value_t::number_float: return Value::number(j.get<double>());
    case ojson::value_t::string: return Value::string(j.get<std::string>());
    case ojson::value_t::array: {
      Value v = Value::seq();
      for (const auto& item : j) v.push(from_ojson(item));
      return v;
    }
    case ojson::value_t::object: {
      Value v = Value::map();
      for (auto it = j.begin(); it != j.end(); ++it) v.add(it.key(), from_ojson(it.value()));
      return v;
    }
    default: throw ConfigError("", "unsupported JSON value");
  }
}

SourceLocation offset_location(const std::string& text, std::size_t byte, const std::string& file) {
  int line = 1;
  int col = 1;
  for (std::size_t k = 0; k + 1 < byte && k < text.size(); ++k) {
    if (text[k] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return SourceLocation{file, line, col};
}

}  // namespace

Value parse_json(const std::string& text, const std::string& file) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto cb = [&](int, ojson::parse_event_t ev, ojson& parsed) {
    if (ev == ojson::parse_event_t::object_start) open_objects.emplace_back();
    if (ev == ojson::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    if (ev == ojson::parse_event_t::key && !open_objects.empty() && duplicate.empty()) {
      const std::string k = parsed.get<std::string>();
      if (!open_objects.back().insert(k).second) duplicate = k;
    }
    return true;
  };
  ojson j;
  try {
    j = ojson::parse(text, cb);
  } catch (const ojson::parse_error& e) {
    std::string msg = e.what();
    const auto pos = msg.find("syntax error");
    if (pos != std::string::npos) msg = msg.substr(pos);
    throw ConfigError("", "invalid JSON: " + msg, offset_location(text, e.byte, file));
  }
  if (!duplicate.empty()) {
    throw ConfigError("", "duplicate key '" + duplicate + "'", SourceLocation{file, 0, 0});
  }
  return from_ojson(j);
}

// ---------------------------------------------------------------- YAML output
namespace {

// A plain scalar is safe when it reads back as the same string.
bool plain_safe(const std::string& s) {
  if (s.empty()) return false;
  static const std::regex kSafe("[A-Za-z_][A-Za-z0-9_.\\-/]*");
  if (!std::regex_match(s, kSafe)) return false;
  return resolve_plain(s, SourceLocation{}).kind == Value::Kind::kString;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string yaml_scalar(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull: return "null";
    case Value::Kind::kBool: return v.b ? "true" : "false";
    case Value::Kind::kInt: return std::to_string(v.i);
    case Value::Kind::kFloat:
      if (std::isnan(v.f)) return ".nan";
      if (std::isinf(v.f)) return v.f > 0 ? ".inf" : "-.inf";
      return format_number(v.f);
    case Value::Kind::kString: return plain_safe(v.s) ? v.s : quote(v.s);
    default: return "";
  }
}

bool is_scalar(const Value& v) { return !v.is_map() && !v.is_seq(); }

void emit_yaml_node(const Value& v, int indent, std::ostringstream& out);

void emit_flow_or_block_value(const Value& v, int indent, std::ostringstream& out) {
  if (is_scalar(v)) {
    out << ' ' << yaml_scalar(v) << '\n';
  } else if (v.is_map() && v.entries.empty()) {
    out << " {}\n";
  } else if (v.is_seq() && (v.items.empty() || std::all_of(v.items.begin(), v.items.end(), is_scalar))) {
    out << " [";
    for (std::size_t k = 0; k < v.items.size(); ++k) out << (k ? ", " : "") << yaml_scalar(v.items[k]);
    out << "]\n";
  } else {
    out << '\n';
    emit_yaml_node(v, indent + 2, out);
  }
}

void emit_yaml_node(const Value& v, int indent, std::ostringstream& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (v.is_map()) {
    for (const auto& [k, val] : v.entries) {
      out << pad << yaml_scalar(k) << ':';
      emit_flow_or_block_value(val, indent, out);
    }
  } else if (v.is_seq()) {
    for (const auto& item : v.items) {
      out << pad << '-';
      emit_flow_or_block_value(item, indent, out);
    }
  } else {
    out << pad << yaml_scalar(v) << '\n';
  }
}

ojson to_ojson(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull: return nullptr;
    case Value::Kind::kBool: return v.b;
    case Value::Kind::kInt: return v.i;
    case Value::Kind::kFloat: return v.f;
    case Value::Kind::kString: return v.s;
    case Value::Kind::kSeq: {
      ojson a = ojson::array();
      for (const auto& item : v.items) a.push_back(to_ojson(item));
      return a;
    }
    case Value::Kind::kMap: {
      ojson o = ojson::object();
      for (const auto& [k, val] : v.entries) {
        o[k.kind == Value::Kind::kString ? k.s : yaml_scalar(k)] = to_ojson(val);
      }
      return o;
    }
  }
  return nullptr;
}

}  // namespace

std::string emit_yaml(const Value& v) {
  std::ostringstream out;
  emit_yaml_node(v, 0, out);
  return out.str();
}

std::string emit_json(const Value& v, int indent) { return to_ojson(v).dump(indent) + "\n"; }

}  // namespace detail
}  // namespace coreai_opt
