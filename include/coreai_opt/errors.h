// The one error hierarchy of coreai_opt.
#pragma once

#include <stdexcept>
#include <string>

namespace coreai_opt {

/// Base of every exception thrown by coreai_opt.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where a config value came from in a YAML file (1-based line and column).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  /// True when a line is known.
  bool known() const { return line > 0; }
  bool operator==(const SourceLocation& o) const {
    return file == o.file && line == o.line && column == o.column;
  }
};

/// A configuration that cannot be accepted. `path()` is the config path of the
/// offending value (`quantization_config.global_config.op_state_spec.weight.dtype`),
/// `location()` its place in the YAML file when it came from one. `what()` reads
/// `FILE:LINE:COL: error: PATH: MESSAGE` (compiler style) or `PATH: MESSAGE`.
class ConfigError : public Error {
 public:
  ConfigError(std::string path, std::string message, SourceLocation location = {});
  const std::string& path() const { return path_; }
  /// The message without path and location.
  const std::string& message() const { return message_; }
  const SourceLocation& location() const { return location_; }

 private:
  std::string path_;
  std::string message_;
  SourceLocation location_;
};

/// A requested feature that this build or this model cannot honour.
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

/// A bad argument to an API call (outside of a config document).
class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

/// A block size that does not divide the tensor dimension it blocks.
class BlockSizeMismatchError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};

}  // namespace coreai_opt
