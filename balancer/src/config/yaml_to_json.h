#pragma once
// The balancer config's YAML tree as JSON, so that its JSON Schema can check it (see
// config_schema.h). Scalars are typed as YAML 1.2's core schema says (what Python's
// loaders and JSON agree on): plain `true`/`false` are booleans, plain `60`/`0.5`/`.inf`
// numbers, plain `~`/`null`/nothing null, and everything else, and every quoted
// scalar ("60"), a string. So `timeout: "60"` is a string the schema refuses, and
// `name: "1"` is the string a name must be.
//
// For: ConfigLoader::fromYaml only. Pure. Throws ConfigError naming the dotted path of
// what it cannot carry over: a key that is a list or a map, a key given twice, a
// document nested or (through aliases) expanded beyond sane bounds.

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

namespace celeriac::balancer::config_yaml {

[[nodiscard]] nlohmann::json yamlToJson(const YAML::Node& root);

}  // namespace celeriac::balancer::config_yaml
