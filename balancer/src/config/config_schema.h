#pragma once
// The balancer config's JSON Schema (schemas/balancer_config.schema.json): the one
// description of every key ConfigLoader::fromYaml accepts, checked before the YAML is
// read into a BalancerConfig, so a wrong key or value is a start-up error naming its
// path and what was expected ("endpoints[0].wieght: unknown field",
// "retry_count: must be at most 1000000").
//
// For: ConfigLoader (and the tests). What not: the cross-field rules (unique names,
// models served by some endpoint, ...), which stay in ConfigLoader::validate; reading
// files (the schema text is compiled in from schemas/ at build time, see
// balancer/CMakeLists.txt, so the file users read and the rules applied are one).
// Pure and stateless for callers: the compiled schema is built once and shared.
//
// Messages come from the schema's keywords ("must be at least 1", "must be one of a,
// b or c"); a node's non-standard "errorMessage" overrides them, either one string for
// every rule of that node or one string per keyword ({"maximum": "..."}). The wording is
// the worker's task schemas' too (common/schema_messages.h).

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/schema_messages.h"

namespace celeriac::balancer::config_schema {

// schemas/balancer_config.schema.json, embedded at build time (generated .cc).
extern const std::string_view kSchemaText;

// One violation: its path ("endpoints[0].weight"; empty for the document itself) and
// what was expected.
using Violation = SchemaViolation;

// Every violation of the schema by `config` (the YAML as JSON, see common/yaml_to_json.h),
// most specific first, in the order found; empty when it conforms.
[[nodiscard]] std::vector<Violation> check(const nlohmann::json& config);

// An Error at the first violation's path, its message followed by up to four more
// ("; path: message"), when `config` breaks the schema.
[[nodiscard]] common::Result<void> enforce(const nlohmann::json& config);

}  // namespace celeriac::balancer::config_schema
