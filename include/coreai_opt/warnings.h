// Warnings: things that are accepted but that the user should know about (a
// deprecated spelling, a config key that matches nothing in the model, a layer
// left unquantized). They go to one replaceable handler, so applications and
// tests can collect them; the default handler prints `coreai_opt warning: ...`
// to stderr.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace coreai_opt {

using WarningHandler = std::function<void(const std::string& message)>;

/// Installs `handler` (an empty function restores the default) and returns the previous one.
WarningHandler set_warning_handler(WarningHandler handler);

/// Sends `message` to the current handler.
void warn(const std::string& message);

/// Collects every warning issued while it lives (restores the previous handler on
/// destruction). Not thread-safe against concurrent handler changes.
class WarningCollector {
 public:
  WarningCollector();
  ~WarningCollector();
  WarningCollector(const WarningCollector&) = delete;
  WarningCollector& operator=(const WarningCollector&) = delete;
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;
  WarningHandler previous_;
};

}  // namespace coreai_opt
