#pragma once
// The words for JSON Schema violations found by valijson: where each one is (a dotted
// path, "endpoints[0].limits.gpt-5.rpm", "items[0].category") and what was expected,
// said from the schema's own keywords ("must be at least 1", "must be a list or a
// mapping", "must be one of a, b, c") or from its non-standard "errorMessage", never
// valijson's wording ("Expected number greater than or equal to 1.000000") where a
// keyword says it better.
//
// "errorMessage" (validators ignore it) is either one string, the text of every rule of
// that node, or one string per keyword ({"maximum": "must be at most 30 days"}); the
// nearest node that has one for the failed keyword wins.
//
// For: the balancer's config schema (balancer/src/config/config_schema.cc) and the
// worker's task schemas (worker/tasks/schema_validator.cc). What not: compiling the
// schema or running the validation (the caller owns its valijson::Schema and Validator),
// reading schema files (the caller lends the documents a "$ref" may reach).
// Pure functions: they borrow the schema documents for the call and keep nothing.

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace valijson {
class ValidationResults;
}  // namespace valijson

namespace celeriac::inline common {

struct SchemaViolation {
  std::string path;     // "endpoints[0].weight"; empty for the document itself
  std::string message;  // the rule broken: "must be at least 1"
};

// A schema document other than the root that a "$ref" may name, by its URI without the
// "#..." fragment ("file:///srv/schemas/llm_meta.schema.json"); nullptr when unknown
// (the rules found there then go unworded: valijson's text is used instead).
using SchemaDocumentLookup = std::function<const nlohmann::json*(const std::string& uri)>;

struct SchemaWording {
  // Empty: a "$ref" reaches only within the root document ("#/definitions/...").
  SchemaDocumentLookup documents = {};
  // Said of a field that the schema does not allow (additionalProperties: false): the
  // balancer's config says "unknown field" (a typo in a file), the worker's task inputs
  // "is not an allowed field" (an argument of a call).
  std::string unknown_field = "unknown field";
};

// Every violation that `results` (valijson's, of `instance` against `schema`) holds,
// most specific first in the order found: valijson's wrappers around a failing child
// ("Failed to validate item #0") are dropped when the child is reported, and a repeated
// path and message is given once. A missing or unknown field is reported at the field's
// own path ("image: is required"). Consumes `results`.
[[nodiscard]] std::vector<SchemaViolation> describeViolations(valijson::ValidationResults& results,
                                                              const nlohmann::json& instance,
                                                              const nlohmann::json& schema,
                                                              const SchemaWording& wording = {});

}  // namespace celeriac::inline common
