#include "coreai_opt/warnings.h"

#include <iostream>
#include <mutex>
#include <utility>

namespace coreai_opt {
namespace {

std::mutex& handler_mutex() {
  static std::mutex m;
  return m;
}

WarningHandler& current_handler() {
  static WarningHandler h;
  return h;
}

}  // namespace

WarningHandler set_warning_handler(WarningHandler handler) {
  std::lock_guard<std::mutex> lock(handler_mutex());
  return std::exchange(current_handler(), std::move(handler));
}

void warn(const std::string& message) {
  WarningHandler h;
  {
    std::lock_guard<std::mutex> lock(handler_mutex());
    h = current_handler();
  }
  if (h) {
    h(message);
  } else {
    std::cerr << "coreai_opt warning: " << message << "\n";
  }
}

WarningCollector::WarningCollector()
    : previous_(set_warning_handler([this](const std::string& m) { messages_.push_back(m); })) {}

WarningCollector::~WarningCollector() { set_warning_handler(std::move(previous_)); }

}  // namespace coreai_opt
