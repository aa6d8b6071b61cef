#pragma once
// A parsed YAML document as JSON, so that a JSON Schema can check it: the balancer's
// config (balancer/src/config/config_schema.h) and the worker's tasks config
// (worker/tasks/llm_tasks_config.h). Scalars are typed as YAML 1.2's core schema says
// (what Python's loaders and JSON agree on): plain `true`/`false` are booleans, plain
// `60`/`0.5`/`.inf` numbers, plain `~`/`null`/nothing null, and everything else a
// string, as is every quoted, block or `!!str` scalar. So `timeout: "60"` is the string
// "60", and YAML 1.1's `yes`/`on` are the strings "yes"/"on", not booleans.
//
// Refused (an Error naming the dotted path first, "endpoints[0].name: appears twice"): a key that
// is a list or a map, a key given twice in one mapping, a string or key that is not well-formed
// UTF-8 (valijson counts characters assuming it and reads past a table otherwise), a document
// nested deeper than 64 levels or (through aliases) expanded beyond 100000 values.
//
// What not: parsing the text (the caller runs YAML::Load and words its syntax errors),
// the config's own rules. Pure: no I/O, no state; the JSON returned is the caller's.

#include <yaml-cpp/yaml.h>

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace celeriac::inline common {

// The document as JSON, or an Error "<path>: <rule>": the path "tasks.analyze.queue",
// "a[0].b" ("(document)" for the document itself), the rule "is not valid UTF-8",
// "appears twice", ...
[[nodiscard]] Result<nlohmann::json> yamlToJson(const YAML::Node& root);

}  // namespace celeriac::inline common
