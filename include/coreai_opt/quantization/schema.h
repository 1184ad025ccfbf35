// The config file format described for tools: JSON Schema and key reference.
#pragma once

#include <string>

#include "coreai_opt/quantization/spec.h"

namespace coreai_opt {
namespace quantization {

/// JSON Schema (draft 2020-12) of a config document, generated from the schema
/// tables the reader uses (`configs/schema.json` is this text).
std::string config_json_schema();
/// One spec as canonical JSON (every field, computed ones included), one line
/// when `indent` is -1.
std::string spec_to_json(const QuantizationSpec& spec, int indent = -1);
/// Parses and validates one spec mapping in JSON; throws ConfigError (path `spec`).
QuantizationSpec spec_from_json(const std::string& text);

/// Markdown reference of every key of every config type (`docs/config_keys.md`).
std::string config_key_reference_markdown();

}  // namespace quantization
}  // namespace coreai_opt
