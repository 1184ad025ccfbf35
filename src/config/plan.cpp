// The plan vocabulary of both execution modes: names, JSON, tables, sizes.
#include "coreai_opt/quantization/plan.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "coreai_opt/quantization/schema.h"

namespace coreai_opt {
namespace quantization {

std::string_view to_string(PointKind kind) {
  switch (kind) {
    case PointKind::kOpInput:
      return "op_input";
    case PointKind::kOpOutput:
      return "op_output";
    case PointKind::kOpState:
      return "op_state";
    case PointKind::kModuleInput:
      return "module_input";
    case PointKind::kModuleOutput:
      return "module_output";
    case PointKind::kModuleState:
      return "module_state";
  }
  return "op_input";
}

std::string granularity_summary(const Granularity& g) {
  std::string out(to_string(g.type));
  switch (g.type) {
    case GranularityType::kPerTensor:
      break;
    case GranularityType::kPerChannel:
      out += "(axis=" + (g.axis ? std::to_string(*g.axis) : std::string("None")) + ")";
      break;
    case GranularityType::kPerBlock: {
      out += "(";
      if (g.block_size_is_list) out += "[";
      for (std::size_t i = 0; i < g.block_size.size(); ++i) {
        out += (i ? ", " : "") + std::to_string(g.block_size[i]);
      }
      if (g.block_size_is_list) out += "]";
      if (g.axis) out += ", axis=" + std::to_string(*g.axis);
      out += ")";
      break;
    }
  }
  return out;
}

std::string spec_summary(const QuantizationSpec& s) {
  return std::string(dtype_name(s.dtype)) + " " + granularity_summary(s.granularity) + " " +
         std::string(to_string(s.qscheme));
}

std::int64_t quantized_bytes(const QuantizationSpec& spec, std::int64_t numel,
                             std::int64_t n_params) {
  const std::int64_t bits = spec.n_bits();
  std::int64_t bytes = (numel * bits + 7) / 8;
  bytes += n_params * (spec.effective_scale_dtype() ? 1 : 4);
  if (!is_float(spec.dtype)) {
    if (spec.qformulation == QuantizationFormulation::kMinval) {
      bytes += n_params * 4;
    } else if (spec.qscheme == QuantizationScheme::kAsymmetric) {
      bytes += (n_params * bits + 7) / 8;
    }
  }
  return bytes;
}

std::string SkippedPoint::to_string() const {
  return (module.empty() ? std::string("<root>") : module) + " (" + module_type + ") " +
         std::string(quantization::to_string(kind)) + " " + tensor + " [" + rule + "]: " + reason;
}

std::string QuantizationPlan::to_json(int indent) const {
  using json = nlohmann::ordered_json;
  const auto opt = [](const std::optional<std::string>& s) { return s ? json(*s) : json(); };
  json j;
  j["execution_mode"] = std::string(quantization::to_string(execution_mode));
  j["points"] = json::array();
  for (const auto& p : points) {
    json e;
    e["kind"] = std::string(quantization::to_string(p.kind));
    e["op_name"] = opt(p.op_name);
    e["op_type"] = opt(p.op_type);
    e["module"] = p.module;
    e["module_type"] = p.module_type;
    e["tensor"] = p.tensor;
    e["spec"] = p.spec ? json::parse(spec_to_json(*p.spec)) : json();
    e["rule"] = p.rule;
    e["fake_quant"] = p.fake_quant.empty() ? json() : json(p.fake_quant);
    j["points"].push_back(std::move(e));
  }
  j["skipped"] = json::array();
  for (const auto& s : skipped) {
    json e;
    e["kind"] = std::string(quantization::to_string(s.kind));
    e["module"] = s.module;
    e["module_type"] = s.module_type;
    e["tensor"] = s.tensor;
    e["rule"] = s.rule;
    e["reason"] = s.reason;
    j["skipped"].push_back(std::move(e));
  }
  j["warnings"] = warnings;
  return j.dump(indent);
}

namespace {
// Columns padded to their widest cell, two spaces apart.
void write_columns(const std::vector<std::vector<std::string>>& rows, std::ostringstream& os) {
  std::vector<std::size_t> width(rows.at(0).size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      os << r[i];
      if (i + 1 < r.size()) os << std::string(width[i] - r[i].size() + 2, ' ');
    }
    os << "\n";
  }
}
}  // namespace

std::string QuantizationPlan::format_table() const {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"kind", "op", "module", "tensor", "spec", "fake_quant", "rule"});
  std::size_t quantized = 0;
  for (const auto& p : points) {
    if (p.spec) ++quantized;
    std::string op = p.op_name ? *p.op_name + " [" + p.op_type.value_or("?") + "]" : "-";
    rows.push_back({std::string(quantization::to_string(p.kind)), op,
                    (p.module.empty() ? "<root>" : p.module) + " (" + p.module_type + ")", p.tensor,
                    p.spec ? spec_summary(*p.spec) : "declined",
                    p.fake_quant.empty() ? "-" : p.fake_quant, p.rule});
  }
  std::ostringstream os;
  os << "execution_mode: " << quantization::to_string(execution_mode) << "\n";
  write_columns(rows, os);
  os << points.size() << " points (" << quantized << " quantized, " << points.size() - quantized
     << " declined)\n";
  for (const auto& s : skipped) os << "skipped: " << s.to_string() << "\n";
  for (const auto& w : warnings) os << "warning: " << w << "\n";
  return os.str();
}

std::string FinalizeReport::format() const {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"weight", "dtype", "numel", "float B", "quant B"});
  for (const auto& w : weights) {
    rows.push_back({w.name, w.dtype, std::to_string(w.numel), std::to_string(w.float_bytes),
                    std::to_string(w.quantized_bytes)});
  }
  std::ostringstream os;
  write_columns(rows, os);
  os << "parameter bytes: " << parameter_bytes_before << " -> " << parameter_bytes_after << "\n";
  return os.str();
}

}  // namespace quantization
}  // namespace coreai_opt
