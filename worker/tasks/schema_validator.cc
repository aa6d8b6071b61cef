// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s <regex> automaton
// (std::function in _State, GCC bug 105562) when valijson's regexes are instantiated
// under -fsanitize=address. The warning is emitted where the template is instantiated,
// at the end of this file, so it is silenced for the whole file; no other file
// instantiates <regex>.
//
// Likewise, at -O3 (the Release build) GCC 12 reports a false -Wrestrict in libstdc++'s
// std::string::replace as inlined into valijson's json_pointer::replaceAllInPlace
// (GCC bug 105329): third-party header code we cannot change, so it is silenced here,
// before any header is read, for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "worker/tasks/schema_validator.h"

#include <fstream>
#include <map>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "common/schema_messages.h"

namespace celeriac::worker::tasks {

namespace {

using nlohmann::json;

constexpr std::string_view kFileScheme = "file://";

// How loading stops from inside valijson's callback for a referenced document; load()
// catches it and returns its message as the Error, so it never leaves this file.
struct LoadRefusal {
  std::string message;
};

json readJsonFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw LoadRefusal{"cannot read schema file " + file.string()};
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw LoadRefusal{"schema file " + file.string() + " is not valid JSON: " + e.what()};
  }
}

}  // namespace

struct SchemaValidator::Impl {
  std::filesystem::path dir;
  std::map<std::string, json> docs;  // absolute path -> schema with rewritten $refs
  json root;                         // {"$ref": "file:///abs/file.json#ptr"}
  valijson::Schema schema;
  mutable valijson::Validator validator;

  // Relative document references become absolute file:// URIs (see the header).
  void rewriteRefs(json& node) {
    if (node.is_object()) {
      for (auto& [key, value] : node.items()) {
        if (key == "$ref" && value.is_string()) {
          const auto ref = value.get<std::string>();
          if (!ref.starts_with('#') && ref.find("://") == std::string::npos) {
            value = std::string(kFileScheme) + (dir / ref).lexically_normal().string();
          }
        } else {
          rewriteRefs(value);
        }
      }
    } else if (node.is_array()) {
      for (auto& value : node) rewriteRefs(value);
    }
  }

  const json* load(const std::string& uri) {
    if (!uri.starts_with(kFileScheme)) return nullptr;  // never fetch from the network
    const std::string path = uri.substr(kFileScheme.size());
    auto it = docs.find(path);
    if (it == docs.end()) {
      json doc = readJsonFile(path);
      rewriteRefs(doc);
      it = docs.emplace(path, std::move(doc)).first;
    }
    return &it->second;
  }

  // A loaded schema document by its file:// URI (see SchemaWording::documents).
  [[nodiscard]] const json* loaded(const std::string& uri) const {
    if (!uri.starts_with(kFileScheme)) return nullptr;
    const auto it = docs.find(uri.substr(kFileScheme.size()));
    return it == docs.end() ? nullptr : &it->second;
  }
};

std::string SchemaError::toString() const { return path.empty() ? message : path + ": " + message; }

common::Result<SchemaValidator> SchemaValidator::load(const std::filesystem::path& dir,
                                                      std::string_view ref) {
  auto impl = std::make_unique<Impl>();
  Impl& loaded = *impl;
  loaded.dir = std::filesystem::absolute(dir).lexically_normal();
  loaded.root = json{{"$ref", std::string(ref)}};
  loaded.rewriteRefs(loaded.root);
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter adapter(loaded.root);
  try {
    parser.populateSchema(
        adapter, loaded.schema,
        [&loaded](const std::string& uri) -> const json* {
          const json* doc = loaded.load(uri);
          if (doc == nullptr) throw LoadRefusal{"schema reference not allowed: " + uri};
          return doc;
        },
        [](const json*) {});  // documents are owned by loaded.docs
  } catch (const LoadRefusal& refusal) {
    return common::Error{refusal.message};
  } catch (const std::exception& e) {  // valijson's refusal of the schema itself
    return common::Error{"schema " + std::string(ref) + " in " + dir.string() + ": " + e.what()};
  }
  return SchemaValidator(std::string(ref), std::move(impl));
}

SchemaValidator::SchemaValidator(std::string ref, std::unique_ptr<Impl> impl)
    : ref_(std::move(ref)), impl_(std::move(impl)) {}

SchemaValidator::~SchemaValidator() = default;
SchemaValidator::SchemaValidator(SchemaValidator&&) noexcept = default;
SchemaValidator& SchemaValidator::operator=(SchemaValidator&&) noexcept = default;

std::vector<SchemaError> SchemaValidator::validate(const nlohmann::json& instance) const {
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(instance);
  if (impl_->validator.validate(impl_->schema, adapter, &results)) return {};

  // Task arguments are a call's, not a file's: "is not an allowed field" rather than the
  // balancer config's "unknown field".
  SchemaWording wording;
  wording.documents = [this](const std::string& uri) { return impl_->loaded(uri); };
  wording.unknown_field = "is not an allowed field";
  std::vector<SchemaError> out;
  for (auto& v : describeViolations(results, instance, impl_->root, wording)) {
    out.push_back({std::move(v.path), std::move(v.message)});
  }
  return out;
}

std::string joinErrors(const std::vector<SchemaError>& errors, std::size_t max_errors) {
  std::string out;
  for (std::size_t i = 0; i < errors.size() && i < max_errors; ++i) {
    if (i > 0) out += "; ";
    out += errors[i].toString();
  }
  if (errors.size() > max_errors) {
    out += "; ... and " + std::to_string(errors.size() - max_errors) + " more";
  }
  return out;
}

}  // namespace celeriac::worker::tasks
