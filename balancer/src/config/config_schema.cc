// GCC 12 reports false warnings inside third-party header code instantiated here, and
// only here in the balancer: -Wmaybe-uninitialized in libstdc++'s <regex> automaton
// under -fsanitize=address (GCC bug 105562), and -Wrestrict in std::string::replace as
// inlined into valijson's json_pointer::replaceAllInPlace at -O3 (GCC bug 105329).
// Silenced for this file only, before any header is read (as in the worker's
// schema_validator.cc, which instantiates the same code).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "config/config_schema.h"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "config/config_error.h"

namespace celeriac::balancer::config_schema {
namespace {

using nlohmann::json;

// At most this many violations are named in one Error; the rest are counted.
constexpr std::size_t kMaxNamed = 5;

// The schema, parsed and compiled once (the text never changes while running).
struct Compiled {
  json doc = json::parse(kSchemaText);
  valijson::Schema schema;

  Compiled() {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(doc);
    parser.populateSchema(adapter, schema);  // only "#/definitions/..." references
  }
};

const Compiled& compiled() {
  static const Compiled instance;
  return instance;
}

}  // namespace

std::vector<Violation> check(const nlohmann::json& config) {
  const Compiled& c = compiled();
  valijson::Validator validator;  // per call: it caches compiled regexes inside
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(config);
  if (validator.validate(c.schema, adapter, &results)) return {};
  return describeViolations(results, config, c.doc);
}

common::Result<void> enforce(const nlohmann::json& config) {
  const auto violations = check(config);
  if (violations.empty()) return {};
  auto named = [](const Violation& v) { return v.path.empty() ? "(document)" : v.path; };
  std::string message = violations.front().message;
  for (std::size_t i = 1; i < violations.size() && i < kMaxNamed; ++i) {
    message += "; " + named(violations[i]) + ": " + violations[i].message;
  }
  if (violations.size() > kMaxNamed) {
    message += "; ... and " + std::to_string(violations.size() - kMaxNamed) + " more";
  }
  return configError(named(violations.front()), message);
}

}  // namespace celeriac::balancer::config_schema
