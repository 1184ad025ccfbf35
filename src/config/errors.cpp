#include "coreai_opt/errors.h"

#include <utility>

namespace coreai_opt {
namespace {

std::string format_config_error(const std::string& path, const std::string& message,
                                const SourceLocation& loc) {
  std::string out;
  if (loc.known()) {
    out += (loc.file.empty() ? std::string("<yaml>") : loc.file) + ":" +
           std::to_string(loc.line) + ":" + std::to_string(loc.column) + ": error: ";
  }
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

}  // namespace

ConfigError::ConfigError(std::string path, std::string message, SourceLocation location)
    : Error(format_config_error(path, message, location)),
      path_(std::move(path)),
      message_(std::move(message)),
      location_(std::move(location)) {}

}  // namespace coreai_opt
