#pragma once
// errorOf(yaml): the message ConfigLoader::fromYaml throws for `yaml`, or "(no error)"
// when it loads. For the config tests, which compare error texts.

#include <string>

#include "balancer/config_loader.h"

namespace celeriac::balancer::testing {

inline std::string errorOf(const std::string& yaml) {
  try {
    (void)ConfigLoader::fromYaml(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace celeriac::balancer::testing
