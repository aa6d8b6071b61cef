#pragma once
// A parsed YAML document as JSON, so that a JSON Schema can check it: the balancer's
// config (balancer/src/config/config_schema.h) and the worker's tasks config
// (worker/tasks/llm_tasks_config.h). Scalars are typed as YAML 1.2's core schema says
// (what Python's loaders and JSON agree on): plain `true`/`false` are booleans, plain
// `60`/`0.5`/`.inf` numbers, plain `~`/`null`/nothing null, and everything else a
// string, as is every quoted, block or `!!str` scalar. So `timeout: "60"` is the string
// "60", and YAML 1.1's `yes`/`on` are the strings "yes"/"on", not booleans.
//
// Refused (YamlToJsonError naming the dotted path, "endpoints[0].name"): a key that is a
// list or a map, a key given twice in one mapping, a string or key that is not
// well-formed UTF-8 (valijson counts characters assuming it and reads past a table
// otherwise), a document nested deeper than 64 levels or (through aliases) expanded
// beyond 100000 values.
//
// What not: parsing the text (the caller runs YAML::Load and words its syntax errors),
// the config's own rules. Pure: no I/O, no state; the JSON returned is the caller's.

#include <yaml-cpp/yaml.h>

#include <stdexcept>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace celeriac::inline common {

// What yamlToJson could not carry over, and where. An exception rather than a Result
// because both callers turn it into their own start-up exception, the balancer's
// ConfigError keeping path() apart.
class YamlToJsonError : public std::runtime_error {
 public:
  YamlToJsonError(std::string path, std::string rule)
      : std::runtime_error(path + ": " + rule), path_(std::move(path)), rule_(std::move(rule)) {}

  // "tasks.analyze.queue", "a[0].b"; "(document)" for the document itself.
  [[nodiscard]] const std::string& path() const { return path_; }
  // "is not valid UTF-8", "appears twice", ...
  [[nodiscard]] const std::string& rule() const { return rule_; }

 private:
  std::string path_;
  std::string rule_;
};

// Throws YamlToJsonError.
[[nodiscard]] nlohmann::json yamlToJson(const YAML::Node& root);

}  // namespace celeriac::inline common
