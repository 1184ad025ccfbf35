// The one regex dialect of the library: module and op name patterns match the
// whole name, ECMAScript syntax (as Python's re.fullmatch for the patterns
// configs use).
#pragma once

#include <regex>
#include <string>

namespace coreai_opt {
namespace detail {

/// Compiles `pattern`; InvalidArgumentError "Invalid regex pattern 'P' in WHERE: why".
std::regex compile_regex(const std::string& pattern, const std::string& where);
/// Whole-string match; InvalidArgumentError when the matcher itself fails
/// (pathological patterns exhaust its stack).
bool full_match(const std::string& text, const std::regex& re, const std::string& pattern);

}  // namespace detail
}  // namespace coreai_opt
