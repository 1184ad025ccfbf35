// The config file format described for tools: JSON Schema and key reference.
#pragma once

#include <string>

namespace coreai_opt {
namespace quantization {

/// JSON Schema (draft 2020-12) of a config document, generated from the schema
/// tables the reader uses (`configs/schema.json` is this text).
std::string config_json_schema();
/// Markdown reference of every key of every config type (`docs/config_keys.md`).
std::string config_key_reference_markdown();

}  // namespace quantization
}  // namespace coreai_opt
