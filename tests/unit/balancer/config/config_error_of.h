#pragma once
// errorOf: the message of the Error a ConfigLoader call returned ("(no error)" when it
// succeeded), and pathOf: the field it names first. For the config tests, which compare
// error texts.

#include <string>

#include "balancer/config_loader.h"

namespace celeriac::balancer::testing {

template <typename T>
std::string errorOf(const common::Result<T>& result) {
  return result ? "(no error)" : result.error().message;
}

inline std::string errorOf(const std::string& yaml) {
  return errorOf(ConfigLoader::fromYaml(yaml));
}

// The path an error names first: its message up to the first ": ".
inline std::string pathOf(const std::string& yaml) {
  const std::string message = errorOf(yaml);
  return message == "(no error)" ? message : message.substr(0, message.find(": "));
}

}  // namespace celeriac::balancer::testing
