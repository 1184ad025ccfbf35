// The schema of the config file format: one table per config type. The same
// tables drive the reader (YAML and JSON both arrive as a Value tree), the
// writers, the generated JSON Schema and the generated key reference.
#pragma once

#include <string>

#include "config/value.h"
#include "coreai_opt/quantization/config.h"

namespace coreai_opt {
namespace detail {

/// Decodes a whole document (`quantization_config:` + optional
/// `quantization_spec:` anchors section) and validates it. Errors are
/// ConfigError with the config path and, when known, the source location.
quantization::QuantizerConfig decode_document(const Value& doc, const std::string& file);

/// `{quantization_config: {...}}` in canonical form (every field written).
Value encode_document(const quantization::QuantizerConfig& config);

/// One spec in canonical form (the QuantizationSpec mapping of the file format).
Value encode_spec(const quantization::QuantizationSpec& spec);
/// Decodes and validates one spec mapping; errors name `path`.
quantization::QuantizationSpec decode_spec_value(const Value& v, const std::string& path,
                                                 const std::string& file);

/// JSON Schema (draft 2020-12) of the file format, for editors.
std::string json_schema();
/// Markdown tables of every key of every config type.
std::string key_reference_markdown();

}  // namespace detail
}  // namespace coreai_opt
