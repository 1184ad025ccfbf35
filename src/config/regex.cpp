#include "coreai_opt/detail/regex.h"

#include "coreai_opt/errors.h"

namespace coreai_opt {
namespace detail {

std::regex compile_regex(const std::string& pattern, const std::string& where) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw InvalidArgumentError("Invalid regex pattern '" + pattern + "' in " + where + ": " +
                               e.what());
  }
}

bool full_match(const std::string& text, const std::regex& re, const std::string& pattern) {
  try {
    return std::regex_match(text, re);
  } catch (const std::regex_error& e) {
    throw InvalidArgumentError("regex pattern '" + pattern + "' could not be matched against '" +
                               text + "': " + e.what());
  }
}

}  // namespace detail
}  // namespace coreai_opt
