#include "config/schema.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "config/path.h"

namespace coreai_opt {
namespace detail {

using namespace quantization;  // NOLINT(google-build-using-namespace): internal file

namespace {

// ------------------------------------------------------------ decode context

struct DecodeContext {
  std::string file;
  std::vector<std::pair<std::string, SourceLocation>> locations;  // config path -> node

  void note(const std::string& path, const Value& v) {
    if (v.loc.known()) locations.emplace_back(path, v.loc);
  }
  /// Location of `path`, or of its closest recorded ancestor. The first record
  /// of a path wins: for keyed entries that is the key, recorded before its value.
  SourceLocation locate(std::string path) const {
    while (true) {
      for (const auto& rec : locations) {
        if (rec.first == path) return rec.second;
      }
      const auto cut = path.find_last_of(".[");
      if (cut == std::string::npos || cut == 0) return SourceLocation{};
      path = path.substr(0, cut);
    }
  }
};

[[noreturn]] void fail(const std::string& path, const std::string& msg, const Value& at) {
  throw ConfigError(path, msg, at.loc);
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t prev = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cur = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
      prev = cur;
    }
  }
  return row[b.size()];
}

/// " (did you mean 'x'?)" for the closest candidate within a small distance.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  bool tie = false;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
      tie = false;
    } else if (d == best_d && !best.empty()) {
      tie = true;  // two equally close candidates: a hint would be arbitrary
    }
  }
  return best.empty() || tie ? "." : "; did you mean '" + best + "'?";
}

std::string join_quoted(const std::vector<std::string>& xs) {
  std::string out;
  for (std::size_t k = 0; k < xs.size(); ++k) out += (k ? ", " : "") + std::string("'") + xs[k] + "'";
  return out;
}

// ---------------------------------------------------------- scalar decoders

const std::string& want_string(const Value& v, const std::string& path) {
  if (!v.is_string()) fail(path, "expected a string, got " + v.describe(), v);
  return v.s;
}

std::int64_t want_int(const Value& v, const std::string& path) {
  if (v.is_int()) return v.i;
  if (v.kind == Value::Kind::kFloat && std::isfinite(v.f) && v.f == std::floor(v.f) &&
      std::fabs(v.f) < 9e15) {
    return static_cast<std::int64_t>(v.f);
  }
  fail(path, "expected an integer, got " + v.describe(), v);
}

std::optional<std::int64_t> want_optional_int(const Value& v, const std::string& path) {
  if (v.is_null()) return std::nullopt;
  return want_int(v, path);
}

double want_number(const Value& v, const std::string& path) {
  if (!v.is_number()) fail(path, "expected a number, got " + v.describe(), v);
  return v.as_double();
}

template <class E>
E want_choice(const Value& v, const std::string& path, const char* what,
              const std::vector<std::pair<std::string, E>>& choices) {
  std::vector<std::string> names;
  for (const auto& c : choices) names.push_back(c.first);
  if (!v.is_string()) {
    fail(path, std::string("expected ") + what + " (one of " + join_quoted(names) + "), got " +
                   v.describe(),
         v);
  }
  for (const auto& c : choices) {
    if (c.first == v.s) return c.second;
  }
  fail(path, "invalid " + std::string(what) + " '" + v.s + "'" + did_you_mean(v.s, names) +
                 " Allowed: " + join_quoted(names) + ".",
       v);
}

std::string allowed_dtypes() {
  std::vector<std::string> names;
  for (DType d : kAllDTypes) names.emplace_back(dtype_name(d));
  std::sort(names.begin(), names.end());
  std::string out;
  for (std::size_t k = 0; k < names.size(); ++k) out += (k ? ", " : "") + names[k];
  return out;
}

DType want_dtype(const Value& v, const std::string& path) {
  if (!v.is_string()) {
    fail(path, "expected a dtype name, got " + v.describe() + ". Allowed dtypes: " + allowed_dtypes(), v);
  }
  const std::string& s = v.s;
  if (auto d = dtype_from_name(s)) return *d;
  std::vector<std::string> names;
  for (DType d : kAllDTypes) names.emplace_back(dtype_name(d));
  fail(path, "Unsupported dtype: '" + s + "'" + did_you_mean(s, names) +
                 " Allowed dtypes: " + allowed_dtypes(),
       v);
}

// ---------------------------------------------------------- schema tables

template <class T>
struct Field {
  const char* name;
  const char* doc;
  const char* json_schema;  // JSON text; may reference #/$defs/<Type>
  void (*decode)(const Value& v, T& out, const std::string& path, DecodeContext& ctx);
  Value (*encode)(const T& in);
  bool computed = false;  // written for information; on input it must match
};

template <class T>
struct TypeSchema {
  const char* name;
  const char* doc;
  std::vector<Field<T>> fields;

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& f : fields) out.emplace_back(f.name);
    return out;
  }
};

template <class T>
void decode_fields(const TypeSchema<T>& schema, const Value& v, T& out, const std::string& path,
                   DecodeContext& ctx) {
  if (!v.is_map()) {
    fail(path, std::string("expected a mapping (") + schema.name + "), got " + v.describe(), v);
  }
  ctx.note(path, v);
  std::vector<std::pair<const Field<T>*, const Value*>> computed;
  for (const auto& [key, val] : v.entries) {
    if (!key.is_string()) {
      fail(path, "unexpected key " + key.describe() + " in " + schema.name + "; allowed keys: " +
                     join_quoted(schema.names()),
           key);
    }
    const Field<T>* field = nullptr;
    for (const auto& f : schema.fields) {
      if (key.s == f.name) field = &f;
    }
    if (!field) {
      fail(path, "unknown key '" + key.s + "' in " + schema.name + did_you_mean(key.s, schema.names()) +
                     " Allowed keys: " + join_quoted(schema.names()) + ".",
           key);
    }
    if (field->computed) {
      computed.emplace_back(field, &val);
      continue;
    }
    const std::string p = path_field(path, field->name);
    ctx.note(p, val);
    field->decode(val, out, p, ctx);
  }
  for (const auto& [field, val] : computed) {
    const std::string p = path_field(path, field->name);
    ctx.note(p, *val);
    field->decode(*val, out, p, ctx);
  }
}

template <class T>
Value encode_fields(const TypeSchema<T>& schema, const T& in) {
  Value m = Value::map();
  for (const auto& f : schema.fields) m.add(f.name, f.encode(in));
  return m;
}

Value encode_optional_int(const std::optional<std::int64_t>& x) {
  return x ? Value::integer(*x) : Value::null();
}

// ----- Granularity

const TypeSchema<Granularity>& granularity_schema() {
  static const TypeSchema<Granularity> table{
      "Granularity",
      "How many scales a tensor gets: one (per_tensor), one per index along an axis "
      "(per_channel) or one per block (per_block).",
      {
          {"type", "per_tensor, per_channel or per_block (required).",
           R"({"enum": ["per_tensor", "per_channel", "per_block"]})",
           [](const Value& v, Granularity& g, const std::string& p, DecodeContext&) {
             g.type = want_choice<GranularityType>(v, p, "granularity type",
                                                   {{"per_tensor", GranularityType::kPerTensor},
                                                    {"per_channel", GranularityType::kPerChannel},
                                                    {"per_block", GranularityType::kPerBlock}});
           },
           [](const Granularity& g) { return Value::string(std::string(to_string(g.type))); }},
          {"axis",
           "per_channel: the channel axis; per_block with an int block_size: the block axis "
           "(a weight's other dims 0/1, an activation's other dims, become per-channel). Negative "
           "counts from the end. null: the default of the consuming module (weights only).",
           R"({"type": ["integer", "null"]})",
           [](const Value& v, Granularity& g, const std::string& p, DecodeContext&) {
             g.axis = want_optional_int(v, p);
           },
           [](const Granularity& g) { return encode_optional_int(g.axis); }},
          {"block_size",
           "per_block only: an int (blocks along axis) or a list with one extent per dimension "
           "(-1 = the whole dimension).",
           R"({"oneOf": [{"type": "integer", "minimum": 1}, {"type": "array", "items": {"type": "integer"}}, {"type": "null"}]})",
           [](const Value& v, Granularity& g, const std::string& p, DecodeContext& ctx) {
             g.block_size.clear();
             g.block_size_is_list = false;
             if (v.is_null()) return;
             if (v.is_seq()) {
               g.block_size_is_list = true;
               if (v.items.empty()) fail(p, "block_size list must not be empty", v);
               for (std::size_t k = 0; k < v.items.size(); ++k) {
                 const std::string ip = path_index(p, static_cast<std::int64_t>(k));
                 ctx.note(ip, v.items[k]);
                 g.block_size.push_back(want_int(v.items[k], ip));
               }
               return;
             }
             g.block_size.push_back(want_int(v, p));
           },
           [](const Granularity& g) {
             if (g.block_size.empty()) return Value::null();
             if (!g.block_size_is_list) return Value::integer(g.block_size[0]);
             Value l = Value::seq();
             for (auto b : g.block_size) l.push(Value::integer(b));
             return l;
           }},
      }};
  return table;
}

Granularity decode_granularity(const Value& v, const std::string& path, DecodeContext& ctx) {
  if (v.is_string()) {
    fail(path, "granularity must be a mapping with a 'type' key, e.g. {type: " + v.s +
                   "}; got " + v.describe(),
         v);
  }
  if (v.is_map() && !v.find("type")) {
    fail(path, "missing key 'type' in granularity (allowed types: 'per_tensor', 'per_channel', "
               "'per_block')",
         v);
  }
  Granularity g;
  decode_fields(granularity_schema(), v, g, path, ctx);
  return g;
}

// ----- QuantizationSpec

template <class E>
std::vector<std::pair<std::string, E>> choices_of(std::initializer_list<E> values) {
  std::vector<std::pair<std::string, E>> out;
  for (E e : values) out.emplace_back(std::string(to_string(e)), e);
  return out;
}

Value computed_check(const Value& v, const std::string& p, const std::string& field,
                     const Value& expected) {
  const bool same = (expected.is_number() && v.is_number() && expected.as_double() == v.as_double()) ||
                    (expected.is_string() && v.is_string() && expected.s == v.s);
  if (!same) {
    std::string shown = expected.is_string() ? "'" + expected.s + "'"
                        : expected.is_int()  ? std::to_string(expected.i)
                                             : format_number(expected.f);
    const char* from = field == "quant_min" || field == "quant_max" ? "dtype and qscheme" : "dtype";
    fail(p, field + " is computed from " + from + " (" + shown + " here), got " +
                v.describe() + "; remove it or correct it",
         v);
  }
  return expected;
}

const TypeSchema<QuantizationSpec>& spec_schema() {
  using S = QuantizationSpec;
  static const TypeSchema<S> table{
      "QuantizationSpec",
      "How one tensor is quantized.",
      {
          {"dtype",
           "Quantized dtype: int8, int4, int2, uint8, uint4, uint2, float8_e4m3fn (alias "
           "float8_e4m3), float8_e5m2, float4_e2m1fn_x2 (alias float4_e2m1fn). Default int8.",
           R"({"enum": ["int8", "int4", "int2", "uint8", "uint4", "uint2", "float8_e4m3fn", "float8_e4m3", "float8_e5m2", "float4_e2m1fn_x2", "float4_e2m1fn"]})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             s.dtype = want_dtype(v, p);
           },
           [](const S& s) { return Value::string(std::string(dtype_name(s.dtype))); }},
          {"qscheme", "symmetric (default), asymmetric or symmetric_with_clipping.",
           R"({"enum": ["symmetric", "asymmetric", "symmetric_with_clipping"]})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             s.qscheme = want_choice(v, p, "qscheme",
                                     choices_of({QuantizationScheme::kSymmetric,
                                                 QuantizationScheme::kAsymmetric,
                                                 QuantizationScheme::kSymmetricWithClipping}));
           },
           [](const S& s) { return Value::string(std::string(to_string(s.qscheme))); }},
          {"qformulation", "zp (default: zero point) or minval (integer dtypes only).",
           R"({"enum": ["zp", "minval"]})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             s.qformulation = want_choice(
                 v, p, "qformulation",
                 choices_of({QuantizationFormulation::kZp, QuantizationFormulation::kMinval}));
           },
           [](const S& s) { return Value::string(std::string(to_string(s.qformulation))); }},
          {"granularity", "A Granularity mapping. Default {type: per_tensor}.",
           R"({"$ref": "#/$defs/Granularity"})",
           [](const Value& v, S& s, const std::string& p, DecodeContext& ctx) {
             s.granularity = decode_granularity(v, p, ctx);
           },
           [](const S& s) { return encode_fields(granularity_schema(), s.granularity); }},
          {"fake_quantize_cls", "Fake-quantize implementation: default.",
           R"({"enum": ["default"]})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             s.fake_quantize_cls =
                 want_choice(v, p, "fake_quantize_cls", choices_of({FakeQuantizeClass::kDefault}));
           },
           [](const S& s) { return Value::string(std::string(to_string(s.fake_quantize_cls))); }},
          {"qparam_calculator_cls",
           "default (static for weights, moving_average for activations), static, "
           "moving_average, global_minmax, or dynamic (activations only: qparams from each "
           "forward's tensor, nothing stored).",
           R"({"enum": ["default", "static", "moving_average", "global_minmax", "dynamic"]})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             s.qparam_calculator_cls = want_choice(
                 v, p, "qparam_calculator_cls",
                 choices_of({QParamCalculator::kDefault, QParamCalculator::kStatic,
                             QParamCalculator::kMovingAverage, QParamCalculator::kGlobalMinMax,
                             QParamCalculator::kDynamic}));
           },
           [](const S& s) {
             return Value::string(std::string(to_string(s.qparam_calculator_cls)));
           }},
          {"range_calculator_cls", "Range observer: minmax.", R"({"enum": ["minmax"]})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             s.range_calculator_cls =
                 want_choice(v, p, "range_calculator_cls", choices_of({RangeCalculator::kMinMax}));
           },
           [](const S& s) {
             return Value::string(std::string(to_string(s.range_calculator_cls)));
           }},
          {"float_range",
           "[min, max]; a number replaces the observed bound, null keeps it. min <= 0 <= max, "
           "min < max. Default [null, null].",
           R"({"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": ["number", "null"]}})",
           [](const Value& v, S& s, const std::string& p, DecodeContext& ctx) {
             if (!v.is_seq() || v.items.size() != 2) {
               fail(p, "float_range must be a list of two entries [min, max] (numbers or null), got " +
                           (v.is_seq() ? "a list of " + std::to_string(v.items.size()) + " entries"
                                       : v.describe()),
                    v);
             }
             for (std::size_t k = 0; k < 2; ++k) {
               const Value& e = v.items[k];
               const std::string ip = path_index(p, static_cast<std::int64_t>(k));
               ctx.note(ip, e);
               if (e.is_null()) {
                 s.float_range[k].reset();
               } else if (e.is_number()) {
                 s.float_range[k] = e.as_double();
               } else {
                 fail(ip, "float_range entries must be numbers or null, got " + e.describe(), e);
               }
             }
           },
           [](const S& s) {
             Value l = Value::seq();
             for (const auto& b : s.float_range) l.push(b ? Value::number(*b) : Value::null());
             return l;
           }},
          {"scale_dtype",
           "null (plain float scales; fp4 gets float8_e8m0fnu automatically) or float8_e8m0fnu "
           "(alias float8_e8m0): power-of-two scales.",
           R"({"enum": [null, "float8_e8m0fnu", "float8_e8m0"]})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             if (v.is_null()) {
               s.scale_dtype.reset();
               return;
             }
             const std::string& t = want_string(v, p);
             if (t == "float8_e8m0fnu" || t == "float8_e8m0") {
               s.scale_dtype = ScaleDType::kFloat8E8M0FNU;
               return;
             }
             if (dtype_from_name(t) || t == "float16" || t == "bfloat16" || t == "float32") {
               fail(p, "Unsupported scale_dtype: " + t +
                           ". Only null or float8_e8m0fnu are supported.",
                    v);
             }
             fail(p, "Unsupported dtype: '" + t + "'" + did_you_mean(t, {"float8_e8m0fnu"}) +
                         " Only null or float8_e8m0fnu are supported.",
                  v);
           },
           [](const S& s) {
             auto sd = s.effective_scale_dtype();
             return sd ? Value::string(std::string(to_string(*sd))) : Value::null();
           }},
          {"averaging_constant",
           "Weight of each new observation in the moving_average calculator, in (0, 1]. Default "
           "0.01. (Not settable in the Python library.)",
           R"({"type": "number", "exclusiveMinimum": 0, "maximum": 1})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             s.averaging_constant = want_number(v, p);
           },
           [](const S& s) { return Value::number(s.averaging_constant); }},
          {"n_bits", "Computed: bits per element. Accepted on input only if it matches.",
           R"({"type": "integer"})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             computed_check(v, p, "n_bits", Value::integer(s.n_bits()));
           },
           [](const S& s) { return Value::integer(s.n_bits()); }, true},
          {"target_dtype", "Computed: storage dtype of quantized values.", R"({"type": "string"})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             computed_check(v, p, "target_dtype", Value::string(std::string(s.target_dtype())));
           },
           [](const S& s) { return Value::string(std::string(s.target_dtype())); }, true},
          {"quant_min", "Computed: smallest quantized value.", R"({"type": "number"})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             computed_check(v, p, "quant_min", is_float(s.dtype) ? Value::number(s.quant_min()) : Value::integer(static_cast<std::int64_t>(s.quant_min())));
           },
           [](const S& s) {
             return is_float(s.dtype) ? Value::number(s.quant_min())
                                      : Value::integer(static_cast<std::int64_t>(s.quant_min()));
           },
           true},
          {"quant_max", "Computed: largest quantized value.", R"({"type": "number"})",
           [](const Value& v, S& s, const std::string& p, DecodeContext&) {
             computed_check(v, p, "quant_max", is_float(s.dtype) ? Value::number(s.quant_max()) : Value::integer(static_cast<std::int64_t>(s.quant_max())));
           },
           [](const S& s) {
             return is_float(s.dtype) ? Value::number(s.quant_max())
                                      : Value::integer(static_cast<std::int64_t>(s.quant_max()));
           },
           true},
      }};
  return table;
}

QuantizationSpec decode_spec(const Value& v, const std::string& path, DecodeContext& ctx) {
  QuantizationSpec s;
  decode_fields(spec_schema(), v, s, path, ctx);
  return s;
}

// ----- spec dicts

std::string key_path(const std::string& base, const TensorKey& key) {
  return key.is_index() ? path_index(base, key.index()) : path_spec_key(base, key.name());
}

SpecMap decode_spec_map(const Value& v, const std::string& path, DecodeContext& ctx) {
  SpecMap out;
  if (v.is_null()) return out;
  if (!v.is_map()) {
    fail(path, "expected a mapping of tensor index or name to QuantizationSpec (or null), got " +
                   v.describe(),
         v);
  }
  for (const auto& [key, val] : v.entries) {
    std::optional<TensorKey> k;
    if (key.is_int()) k = TensorKey(key.i);
    if (key.is_string()) k = TensorKey(key.s);
    if (!k) {
      fail(path, "tensor keys must be indices or names ('*' for all), got " + key.describe(), key);
    }
    const std::string p = key_path(path, *k);
    ctx.note(p, key);
    if (val.is_null()) {
      out.set(*k, std::nullopt);
    } else {
      out.set(*k, decode_spec(val, p, ctx));
    }
  }
  return out;
}

StateSpecMap decode_state_map(const Value& v, const std::string& path, DecodeContext& ctx) {
  StateSpecMap out;
  if (v.is_null()) return out;
  if (!v.is_map()) {
    fail(path, "expected a mapping of state name to QuantizationSpec (or null), got " + v.describe(),
         v);
  }
  for (const auto& [key, val] : v.entries) {
    if (!key.is_string()) {
      fail(path, "state keys must be parameter or buffer names ('*' for all), got " +
                     key.describe(),
           key);
    }
    const std::string p = path_spec_key(path, key.s);
    ctx.note(p, key);
    if (val.is_null()) {
      out.set(key.s, std::nullopt);
    } else {
      out.set(key.s, decode_spec(val, p, ctx));
    }
  }
  return out;
}

Value encode_spec_map(const SpecMap& m) {
  Value out = Value::map();
  for (const auto& [k, spec] : m) {
    Value key = k.is_index() ? Value::integer(k.index()) : Value::string(k.name());
    out.entries.emplace_back(std::move(key),
                             spec ? encode_fields(spec_schema(), *spec) : Value::null());
  }
  return out;
}

Value encode_state_map(const StateSpecMap& m) {
  Value out = Value::map();
  for (const auto& [k, spec] : m) out.add(k, spec ? encode_fields(spec_schema(), *spec) : Value::null());
  return out;
}

// ----- QATSchedule

const TypeSchema<QATSchedule>& qat_schema() {
  static const TypeSchema<QATSchedule> table{
      "QATSchedule",
      "When, in optimizer steps, observers and fake quantization switch on and off.",
      {
          {"enable_observer", "Step from which observers run (>= 0). Default 0.",
           R"({"type": "integer", "minimum": 0})",
           [](const Value& v, QATSchedule& q, const std::string& p, DecodeContext&) {
             q.enable_observer = want_int(v, p);
           },
           [](const QATSchedule& q) { return Value::integer(q.enable_observer); }},
          {"enable_fake_quant", "Step from which fake quantization applies (>= enable_observer). Default 0.",
           R"({"type": "integer", "minimum": 0})",
           [](const Value& v, QATSchedule& q, const std::string& p, DecodeContext&) {
             q.enable_fake_quant = want_int(v, p);
           },
           [](const QATSchedule& q) { return Value::integer(q.enable_fake_quant); }},
          {"disable_observer",
           "Step from which observers stop (> enable_observer, >= enable_fake_quant), or null "
           "(never). Default null.",
           R"({"type": ["integer", "null"], "minimum": 1})",
           [](const Value& v, QATSchedule& q, const std::string& p, DecodeContext&) {
             q.disable_observer = want_optional_int(v, p);
           },
           [](const QATSchedule& q) { return encode_optional_int(q.disable_observer); }},
      }};
  return table;
}

// ----- OpQuantizerConfig

const char* const kSpecMapSchema =
    R"({"oneOf": [{"type": "null"}, {"type": "object", "additionalProperties": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/QuantizationSpec"}]}}]})";

const TypeSchema<OpQuantizerConfig>& op_schema() {
  using O = OpQuantizerConfig;
  static const TypeSchema<O> table{
      "OpQuantizerConfig",
      "Quantization of one op type or op name. Omitted fields take the library default (int8), "
      "not the enclosing module's settings.",
      {
          {"op_input_spec",
           "Input index or '*' -> spec (null: not quantized). Omitted: {'*': int8 activation}; "
           "null: nothing.",
           kSpecMapSchema,
           [](const Value& v, O& o, const std::string& p, DecodeContext& ctx) {
             o.op_input_spec = decode_spec_map(v, p, ctx);
           },
           [](const O& o) { return encode_spec_map(o.op_input_spec); }},
          {"op_output_spec", "Output index or '*' -> spec. Omitted: {'*': int8 activation}.",
           kSpecMapSchema,
           [](const Value& v, O& o, const std::string& p, DecodeContext& ctx) {
             o.op_output_spec = decode_spec_map(v, p, ctx);
           },
           [](const O& o) { return encode_spec_map(o.op_output_spec); }},
          {"op_state_spec",
           "State name (weight, bias, ...) or '*' -> spec. Omitted: {weight: int8 per-channel}.",
           kSpecMapSchema,
           [](const Value& v, O& o, const std::string& p, DecodeContext& ctx) {
             o.op_state_spec = decode_state_map(v, p, ctx);
           },
           [](const O& o) { return encode_state_map(o.op_state_spec); }},
      }};
  return table;
}

OpQuantizerConfig decode_op_config(const Value& v, const std::string& path, DecodeContext& ctx) {
  if (v.is_null()) {
    ctx.note(path, v);
    return OpQuantizerConfig::disabled();
  }
  OpQuantizerConfig o;
  decode_fields(op_schema(), v, o, path, ctx);
  return o;
}

// A mapping of user keys (op types, op names, module types, module names) to
// configs; a null value is decoded by `decode_one` too (a disabled config).
template <class T>
detail::OrderedMap<std::string, T> decode_keyed_map(
    const Value& v, const std::string& path, DecodeContext& ctx, const char* what,
    const char* type_name, T (*decode_one)(const Value&, const std::string&, DecodeContext&)) {
  detail::OrderedMap<std::string, T> out;
  if (v.is_null()) return out;
  if (!v.is_map()) {
    fail(path, std::string("expected a mapping of ") + what + "s to " + type_name + ", got " +
                   v.describe(),
         v);
  }
  for (const auto& [key, val] : v.entries) {
    if (!key.is_string()) {
      fail(path, std::string(what) + " keys must be strings, got " + key.describe() +
                     " (quote it in YAML)",
           key);
    }
    const std::string p = path_key(path, key.s);
    ctx.note(p, key);
    out.set(key.s, decode_one(val, p, ctx));
  }
  return out;
}

template <class T>
Value encode_keyed_map(const detail::OrderedMap<std::string, T>& m, const TypeSchema<T>& schema) {
  Value out = Value::map();
  for (const auto& [k, cfg] : m) out.add(k, encode_fields(schema, cfg));
  return out;
}

detail::OrderedMap<std::string, OpQuantizerConfig> decode_op_map(const Value& v,
                                                                 const std::string& path,
                                                                 DecodeContext& ctx,
                                                                 const char* what) {
  return decode_keyed_map(v, path, ctx, what, "OpQuantizerConfig", &decode_op_config);
}

Value encode_op_map(const detail::OrderedMap<std::string, OpQuantizerConfig>& m) {
  return encode_keyed_map(m, op_schema());
}

// ----- ModuleQuantizerConfig

const char* const kOpMapSchema =
    R"({"oneOf": [{"type": "null"}, {"type": "object", "additionalProperties": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/OpQuantizerConfig"}]}}]})";

const TypeSchema<ModuleQuantizerConfig>& module_schema() {
  using M = ModuleQuantizerConfig;
  static const TypeSchema<M> table{
      "ModuleQuantizerConfig",
      "Quantization of every op inside a module's scope (inherited by its submodules), plus the "
      "tensors crossing the module's own boundary.",
      {
          {"op_input_spec", "Default input specs of ops in scope. Omitted: {'*': int8 activation}; null: none.",
           kSpecMapSchema,
           [](const Value& v, M& m, const std::string& p, DecodeContext& ctx) {
             m.op_input_spec = decode_spec_map(v, p, ctx);
           },
           [](const M& m) { return encode_spec_map(m.op_input_spec); }},
          {"op_output_spec", "Default output specs of ops in scope. Omitted: {'*': int8 activation}.",
           kSpecMapSchema,
           [](const Value& v, M& m, const std::string& p, DecodeContext& ctx) {
             m.op_output_spec = decode_spec_map(v, p, ctx);
           },
           [](const M& m) { return encode_spec_map(m.op_output_spec); }},
          {"op_state_spec", "Default state specs of ops in scope. Omitted: {weight: int8 per-channel}.",
           kSpecMapSchema,
           [](const Value& v, M& m, const std::string& p, DecodeContext& ctx) {
             m.op_state_spec = decode_state_map(v, p, ctx);
           },
           [](const M& m) { return encode_state_map(m.op_state_spec); }},
          {"op_type_config", "Op type (linear, conv2d, add, softmax, ...) -> OpQuantizerConfig or null (op disabled); later entries win.",
           kOpMapSchema,
           [](const Value& v, M& m, const std::string& p, DecodeContext& ctx) {
             m.op_type_config = decode_op_map(v, p, ctx, "op type");
           },
           [](const M& m) { return encode_op_map(m.op_type_config); }},
          {"op_name_config", "Op name regex (full match) -> OpQuantizerConfig or null; later entries win.",
           kOpMapSchema,
           [](const Value& v, M& m, const std::string& p, DecodeContext& ctx) {
             m.op_name_config = decode_op_map(v, p, ctx, "op name");
           },
           [](const M& m) { return encode_op_map(m.op_name_config); }},
          {"module_input_spec", "Module input index or '*' -> spec, applied at the module boundary; not inherited.",
           kSpecMapSchema,
           [](const Value& v, M& m, const std::string& p, DecodeContext& ctx) {
             m.module_input_spec = decode_spec_map(v, p, ctx);
           },
           [](const M& m) { return encode_spec_map(m.module_input_spec); }},
          {"module_output_spec", "Module output index or '*' -> spec; not inherited.",
           kSpecMapSchema,
           [](const Value& v, M& m, const std::string& p, DecodeContext& ctx) {
             m.module_output_spec = decode_spec_map(v, p, ctx);
           },
           [](const M& m) { return encode_spec_map(m.module_output_spec); }},
          {"module_state_spec", "The module's own state name or '*' -> spec, for every consumer; not inherited.",
           kSpecMapSchema,
           [](const Value& v, M& m, const std::string& p, DecodeContext& ctx) {
             m.module_state_spec = decode_state_map(v, p, ctx);
           },
           [](const M& m) { return encode_state_map(m.module_state_spec); }},
          {"qat_schedule", "A QATSchedule, or null (none).",
           R"({"oneOf": [{"type": "null"}, {"$ref": "#/$defs/QATSchedule"}]})",
           [](const Value& v, M& m, const std::string& p, DecodeContext& ctx) {
             if (v.is_null()) {
               m.qat_schedule.reset();
               return;
             }
             QATSchedule q;
             decode_fields(qat_schema(), v, q, p, ctx);
             m.qat_schedule = q;
           },
           [](const M& m) {
             return m.qat_schedule ? encode_fields(qat_schema(), *m.qat_schedule) : Value::null();
           }},
      }};
  return table;
}

ModuleQuantizerConfig decode_module_config(const Value& v, const std::string& path,
                                           DecodeContext& ctx) {
  if (v.is_null()) {
    ctx.note(path, v);
    return ModuleQuantizerConfig::disabled();
  }
  ModuleQuantizerConfig m;
  decode_fields(module_schema(), v, m, path, ctx);
  return m;
}

// ----- QuantizerConfig

const char* const kModuleMapSchema =
    R"({"oneOf": [{"type": "null"}, {"type": "object", "additionalProperties": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/ModuleQuantizerConfig"}]}}]})";

detail::OrderedMap<std::string, ModuleQuantizerConfig> decode_module_map(
    const Value& v, const std::string& path, DecodeContext& ctx, const char* what) {
  return decode_keyed_map(v, path, ctx, what, "ModuleQuantizerConfig", &decode_module_config);
}

Value encode_module_map(const detail::OrderedMap<std::string, ModuleQuantizerConfig>& m) {
  return encode_keyed_map(m, module_schema());
}

const TypeSchema<QuantizerConfig>& quantizer_schema() {
  using Q = QuantizerConfig;
  static const TypeSchema<Q> table{
      "QuantizerConfig",
      "The model-wide config. Precedence: module_name_configs > module_type_configs > "
      "global_config.",
      {
          {"global_config",
           "ModuleQuantizerConfig for every module not matched below. Omitted: the W8A8 default; "
           "null: disabled.",
           R"({"oneOf": [{"type": "null"}, {"$ref": "#/$defs/ModuleQuantizerConfig"}]})",
           [](const Value& v, Q& q, const std::string& p, DecodeContext& ctx) {
             if (v.is_null()) {
               q.global_config.reset();
               return;
             }
             q.global_config = decode_module_config(v, p, ctx);
           },
           [](const Q& q) {
             return q.global_config ? encode_fields(module_schema(), *q.global_config)
                                    : Value::null();
           }},
          {"module_type_configs",
           "Module type (Python fully-qualified name such as torch.nn.modules.linear.Linear, or "
           "a C++ qualified name) -> ModuleQuantizerConfig or null (disabled).",
           kModuleMapSchema,
           [](const Value& v, Q& q, const std::string& p, DecodeContext& ctx) {
             q.module_type_configs = decode_module_map(v, p, ctx, "module type");
           },
           [](const Q& q) { return encode_module_map(q.module_type_configs); }},
          {"module_name_configs",
           "Module name regex (full match against dotted names) -> ModuleQuantizerConfig or "
           "null; later entries win.",
           kModuleMapSchema,
           [](const Value& v, Q& q, const std::string& p, DecodeContext& ctx) {
             q.module_name_configs = decode_module_map(v, p, ctx, "module name");
           },
           [](const Q& q) { return encode_module_map(q.module_name_configs); }},
          {"preserved_attributes",
           "Graph mode: attribute names kept on the prepared model, or null.",
           R"({"type": ["array", "null"], "items": {"type": "string"}})",
           [](const Value& v, Q& q, const std::string& p, DecodeContext& ctx) {
             if (v.is_null()) {
               q.preserved_attributes.reset();
               return;
             }
             if (!v.is_seq()) fail(p, "expected a list of attribute names, got " + v.describe(), v);
             std::vector<std::string> names;
             for (std::size_t k = 0; k < v.items.size(); ++k) {
               const std::string ip = path_index(p, static_cast<std::int64_t>(k));
               ctx.note(ip, v.items[k]);
               names.push_back(want_string(v.items[k], ip));
             }
             q.preserved_attributes = std::move(names);
           },
           [](const Q& q) {
             if (!q.preserved_attributes) return Value::null();
             Value l = Value::seq();
             for (const auto& n : *q.preserved_attributes) l.push(Value::string(n));
             return l;
           }},
          {"execution_mode",
           "graph (TorchScript) or eager (torch::nn::Module); unset or null: the mode of the "
           "model given to the Quantizer. A mode that contradicts the model warns and is not "
           "used.",
           R"({"enum": ["graph", "eager", "pt2e", null]})",
           [](const Value& v, Q& q, const std::string& p, DecodeContext&) {
             if (v.is_null()) {
               q.execution_mode.reset();
               return;
             }
             const std::string& s = want_string(v, p);
             try {
               q.execution_mode = execution_mode_from_string(s);
             } catch (const InvalidArgumentError&) {
               fail(p,
                    "invalid execution_mode '" + s + "'" + did_you_mean(s, {"graph", "eager"}) +
                        " Allowed: 'graph', 'eager', or null.",
                    v);
             }
           },
           [](const Q& q) {
             if (!q.execution_mode) return Value::null();
             return Value::string(std::string(to_string(*q.execution_mode)));
           }},
      }};
  return table;
}

constexpr const char* kRoot = "quantization_config";

}  // namespace

QuantizerConfig decode_document(const Value& doc, const std::string& file) {
  DecodeContext ctx{file, {}};
  if (doc.is_null()) {
    throw ConfigError("", "empty document: expected a mapping with a 'quantization_config' key",
                      SourceLocation{file, 1, 1});
  }
  if (!doc.is_map()) {
    fail("", "invalid config document: expected a mapping with a 'quantization_config' key, got " +
                 doc.describe(),
         doc);
  }
  const std::vector<std::string> top = {"quantization_config", "quantization_spec"};
  const Value* body = nullptr;
  for (const auto& [key, val] : doc.entries) {
    const std::string k = key.is_string() ? key.s : key.describe();
    if (k == "quantization_config") {
      body = &val;
    } else if (k == "quantization_spec") {
      // Only hosts YAML anchors; never read, as in the reference.
    } else if (k == "kmeans_palettization_config" || k == "palettization_spec") {
      fail("", "'" + k + "' is a palettization config; this library reads quantization configs "
                        "only (top-level keys: 'quantization_config', 'quantization_spec')",
           key);
    } else {
      fail("", "unexpected top-level key '" + k + "'" + did_you_mean(k, top) +
                   " Allowed: 'quantization_config', 'quantization_spec'.",
           key);
    }
  }
  if (!body) {
    throw ConfigError("", "missing top-level key 'quantization_config' (expected keys: "
                          "'quantization_config', 'quantization_spec')",
                      doc.loc);
  }
  if (!body->is_map()) {
    fail(kRoot, "expected a mapping (QuantizerConfig), got " + body->describe() +
                    "; use {} for the default W8A8 config",
         *body);
  }
  QuantizerConfig cfg;
  decode_fields(quantizer_schema(), *body, cfg, kRoot, ctx);
  try {
    cfg.validate();
  } catch (const ConfigError& e) {
    if (e.location().known()) throw;
    throw ConfigError(e.path(), e.message(), ctx.locate(e.path()));
  }
  return cfg;
}

Value encode_spec(const QuantizationSpec& spec) { return encode_fields(spec_schema(), spec); }

QuantizationSpec decode_spec_value(const Value& v, const std::string& path, const std::string& file) {
  DecodeContext ctx{file, {}};
  const QuantizationSpec spec = decode_spec(v, path, ctx);
  try {
    return spec.validated(path);
  } catch (const ConfigError& e) {
    if (e.location().known()) throw;
    throw ConfigError(e.path(), e.message(), ctx.locate(e.path()));
  }
}

Value encode_document(const QuantizerConfig& config) {
  Value doc = Value::map();
  doc.add(kRoot, encode_fields(quantizer_schema(), config));
  return doc;
}

namespace {

template <class T>
nlohmann::ordered_json schema_object(const TypeSchema<T>& s) {
  nlohmann::ordered_json o;
  o["type"] = "object";
  o["description"] = s.doc;
  o["additionalProperties"] = false;
  nlohmann::ordered_json props = nlohmann::ordered_json::object();
  for (const auto& f : s.fields) {
    nlohmann::ordered_json p = nlohmann::ordered_json::parse(f.json_schema);
    p["description"] = f.doc;
    props[f.name] = p;
  }
  o["properties"] = props;
  return o;
}

template <class T>
void markdown_table(std::ostringstream& out, const TypeSchema<T>& s) {
  out << "## " << s.name << "\n\n" << s.doc << "\n\n| key | meaning |\n|---|---|\n";
  for (const auto& f : s.fields) out << "| `" << f.name << "` | " << f.doc << " |\n";
  out << "\n";
}

}  // namespace

std::string json_schema() {
  nlohmann::ordered_json root;
  root["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  root["title"] = "coreai_opt quantization config";
  root["description"] =
      "Generated by `coreai-opt schema`; do not edit. A document with a quantization_config "
      "section (and optionally a quantization_spec section holding YAML anchors).";
  root["type"] = "object";
  root["additionalProperties"] = false;
  root["required"] = {"quantization_config"};
  root["properties"]["quantization_config"] = {{"$ref", "#/$defs/QuantizerConfig"}};
  root["properties"]["quantization_spec"] = {
      {"description", "Free-form section for YAML anchors of specs; never read."}};
  auto& defs = root["$defs"];
  defs["QuantizerConfig"] = schema_object(quantizer_schema());
  defs["ModuleQuantizerConfig"] = schema_object(module_schema());
  defs["OpQuantizerConfig"] = schema_object(op_schema());
  defs["QATSchedule"] = schema_object(qat_schema());
  defs["QuantizationSpec"] = schema_object(spec_schema());
  auto gran = schema_object(granularity_schema());
  gran["required"] = {"type"};
  defs["Granularity"] = gran;
  return root.dump(2) + "\n";
}

std::string key_reference_markdown() {
  std::ostringstream out;
  out << "# Config keys\n\nGenerated by `coreai-opt schema --markdown` from the schema tables "
         "the reader and writers use; do not edit.\n\n";
  markdown_table(out, quantizer_schema());
  markdown_table(out, module_schema());
  markdown_table(out, op_schema());
  markdown_table(out, qat_schema());
  markdown_table(out, spec_schema());
  markdown_table(out, granularity_schema());
  return out.str();
}

}  // namespace detail
}  // namespace coreai_opt
