#pragma once
// ConfigError: how the YAML walk of ConfigLoader::fromYaml (config_yaml.h) stops at the
// first bad field, however deep in the document it is; and configError(), the same
// "path: message" as an Error for the loader's code that returns instead.
//
// Internal to the loader: fromYaml catches every ConfigError and returns it as an Error,
// so no exception crosses the library's API (config_loader.h). Why an exception here at
// all: the walk is dozens of small nested readers (a field, a list item, a number), and
// threading a Result through each would bury what they read under error plumbing.

#include <stdexcept>
#include <string>
#include <utility>

#include "common/result.h"

namespace celeriac::balancer {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string path, const std::string& message)
      : std::runtime_error(path + ": " + message), path_(std::move(path)) {}
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// "path: message", as a ConfigError's what() reads.
[[nodiscard]] inline common::Error configError(const std::string& path,
                                               const std::string& message) {
  return common::Error{message}.in(path);
}

}  // namespace celeriac::balancer
