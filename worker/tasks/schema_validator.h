#pragma once
// SchemaValidator: one JSON Schema (draft 7) from schemas/, compiled once, checked many times.
//
// What for: the LLM tasks validate their inputs before spending a token and the model's
// answers before returning them; the config loader validates the tasks config. Errors
// come back as values naming the field and the rule ("image: must be an https:// URL
// ..."), ready for a Celery ValidationError or a repair prompt.
// What not: no I/O after load(), no logging, no knowledge of tasks.
//
// Schema files may reference each other by relative file name ("llm_meta.schema.json",
// "analysis_result.schema.json#/definitions/analysis"): that is what Python's jsonschema
// resolves against a base URI. valijson 1.0 only fetches absolute URIs and treats a
// relative document reference as the current document (it recurses without end), so
// the loader rewrites every relative "$ref" to an absolute file:// URI before parsing.
//
// Messages are worded as the balancer config's are (common/schema_messages.h): from the
// schema's keywords ("must be at least 1", "must be true or false", "must be one of a,
// b, c"), or from the failing field's non-standard "errorMessage" (ignored by
// validators; one string for every rule of the node, or one per keyword), else from
// valijson's description, shortened. Aggregate errors ("failed to validate against
// schema associated with property ...") are dropped: the leaf says it better. A field
// the schema does not allow "is not an allowed field".
//
// Patterns: valijson runs "pattern" with std::regex, which recurses once per character
// and overflows the stack beyond roughly 10,000 characters (measured: 20,000 under ASan).
// Schemas must therefore only apply unbounded patterns to strings whose length is
// bounded first (see analyze_input.schema.json's if/then/else on "image").
//
// Threading: loop thread only. validate() is logically const but valijson caches
// compiled regexes inside its Validator, so concurrent calls are not allowed.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace celeriac::worker::tasks {

struct SchemaError {
  std::string path;     // "image", "items[0].category"; empty for the document itself
  std::string message;  // the rule, e.g. "must be one of plastic, paper, ..."
  [[nodiscard]] std::string toString() const;  // "path: message" (or just the message)
};

class SchemaValidator {
 public:
  // Loads `dir / ref`, where ref is "file.schema.json" or "file.schema.json#/json/pointer"
  // (validate against a sub-schema, e.g. a definition); an Error for an unreadable file,
  // bad JSON, a schema valijson refuses or a $ref it may not follow.
  [[nodiscard]] static common::Result<SchemaValidator> load(const std::filesystem::path& dir,
                                                            std::string_view ref);
  ~SchemaValidator();
  SchemaValidator(SchemaValidator&&) noexcept;
  SchemaValidator& operator=(SchemaValidator&&) noexcept;
  SchemaValidator(const SchemaValidator&) = delete;
  SchemaValidator& operator=(const SchemaValidator&) = delete;

  // All violations, most specific first, in document order; empty when valid.
  [[nodiscard]] std::vector<SchemaError> validate(const nlohmann::json& instance) const;

  [[nodiscard]] const std::string& ref() const { return ref_; }

 private:
  struct Impl;
  SchemaValidator(std::string ref, std::unique_ptr<Impl> impl);
  std::string ref_;
  std::unique_ptr<Impl> impl_;
};

// "first; second; ..." of at most `max_errors` errors (then "... and N more").
std::string joinErrors(const std::vector<SchemaError>& errors, std::size_t max_errors = 5);

}  // namespace celeriac::worker::tasks
