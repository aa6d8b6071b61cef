#pragma once
// Start-up error text for one JSON Schema violation found by valijson: where it is (a
// dotted path, "endpoints[0].limits.gpt-5.rpm") and what was expected, said from the
// schema's own keywords ("must be at least 1", "must be a list or a mapping") or from
// its "errorMessage" (see config_schema.h), never valijson's wording ("Expected number
// greater than or equal to 1.000000").
//
// For: config_schema.cc. Pure functions over the parsed schema document; they own
// nothing and keep no state.

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac::balancer::config_schema {

// One step into the config: a mapping key or a list index.
struct PathSegment {
  bool is_index = false;
  std::string key;
  std::size_t index = 0;
};

// "endpoints[0].weight"; empty for the document itself.
[[nodiscard]] std::string formatPath(const std::vector<PathSegment>& path);

// valijson's wrappers around a failing child ("Failed to validate item #0 ..."): the
// child's own error says it better.
[[nodiscard]] bool isAggregate(const std::string& description);

// The message for valijson's `description` at `path` of a config checked against
// `schema`. A missing or unknown field is reported at the field's own path, so `path`
// gains that field's name.
[[nodiscard]] std::string messageFor(const nlohmann::json& schema, std::vector<PathSegment>& path,
                                     const std::string& description);

}  // namespace celeriac::balancer::config_schema
