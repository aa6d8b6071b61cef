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

#include <set>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "balancer/config_loader.h"
#include "config/schema_messages.h"

namespace celeriac::balancer::config_schema {
namespace {

using nlohmann::json;

// At most this many violations are named in one ConfigError; the rest are counted.
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

// valijson's context is {"<root>", "[key]", "[0]", ...}; the instance tells a key that
// looks like a number from an index.
std::vector<PathSegment> pathOf(const std::vector<std::string>& context, const json& instance) {
  std::vector<PathSegment> path;
  const json* at = &instance;
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string part = context[i];
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
      part = part.substr(1, part.size() - 2);
    }
    PathSegment seg;
    const bool numeric = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    if (at != nullptr && at->is_array() && numeric) {
      seg.is_index = true;
      seg.index = static_cast<std::size_t>(std::stoull(part));
      at = seg.index < at->size() ? &(*at)[seg.index] : nullptr;
    } else {
      at = (at != nullptr && at->is_object() && at->contains(part)) ? &(*at)[part] : nullptr;
      seg.key = std::move(part);
    }
    path.push_back(std::move(seg));
  }
  return path;
}

}  // namespace

std::vector<Violation> check(const nlohmann::json& config) {
  const Compiled& c = compiled();
  valijson::Validator validator;  // per call: it caches compiled regexes inside
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(config);
  if (validator.validate(c.schema, adapter, &results)) return {};

  struct Raw {
    std::vector<PathSegment> path;
    std::string description;
  };
  std::vector<Raw> raw;
  bool any_leaf = false;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    Raw r{pathOf(error.context, config), error.description};
    any_leaf = any_leaf || !isAggregate(r.description);
    raw.push_back(std::move(r));
  }
  std::vector<Violation> out;
  std::set<std::pair<std::string, std::string>> seen;
  for (auto& r : raw) {
    if (any_leaf && isAggregate(r.description)) continue;
    std::string message = messageFor(c.doc, r.path, r.description);
    Violation v{formatPath(r.path), std::move(message)};
    if (seen.emplace(v.path, v.message).second) out.push_back(std::move(v));
  }
  return out;
}

void enforce(const nlohmann::json& config) {
  const auto violations = check(config);
  if (violations.empty()) return;
  auto named = [](const Violation& v) { return v.path.empty() ? "(document)" : v.path; };
  std::string message = violations.front().message;
  for (std::size_t i = 1; i < violations.size() && i < kMaxNamed; ++i) {
    message += "; " + named(violations[i]) + ": " + violations[i].message;
  }
  if (violations.size() > kMaxNamed) {
    message += "; ... and " + std::to_string(violations.size() - kMaxNamed) + " more";
  }
  throw ConfigError(named(violations.front()), message);
}

}  // namespace celeriac::balancer::config_schema
