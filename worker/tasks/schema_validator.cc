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

#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace celeriac::worker::tasks {

namespace {

using nlohmann::json;

constexpr std::string_view kFileScheme = "file://";
// Bounds the $ref / allOf expansion in the errorMessage lookup (schemas have no cycles
// today; this keeps a future mistake from hanging validation).
constexpr int kMaxExpansionDepth = 8;

// valijson's wrappers around a failing child: the child's own error is more precise.
bool isAggregate(const std::string& description) {
  static constexpr std::string_view kPrefixes[] = {
      "Failed to validate against schema associated with property name",
      "Failed to validate item #",
      "Failed to validate against child schema",
      "Failed to validate against a conditional schema",
  };
  for (auto prefix : kPrefixes) {
    if (description.starts_with(prefix)) return true;
  }
  return false;
}

// The text between the last pair of single quotes: valijson quotes property names there.
std::string quotedName(const std::string& description) {
  const auto end = description.rfind('\'');
  if (end == std::string::npos || end == 0) return {};
  const auto begin = description.rfind('\'', end - 1);
  if (begin == std::string::npos) return {};
  return description.substr(begin + 1, end - begin - 1);
}

struct Segment {
  bool is_index = false;
  std::string key;
  std::size_t index = 0;
};

std::string formatPath(const std::vector<Segment>& segments) {
  std::string out;
  for (const auto& s : segments) {
    if (s.is_index) {
      out += "[" + std::to_string(s.index) + "]";
    } else {
      if (!out.empty()) out += '.';
      out += s.key;
    }
  }
  return out;
}

json readJsonFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw SchemaLoadError("cannot read schema file " + file.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw SchemaLoadError("schema file " + file.string() + " is not valid JSON: " + e.what());
  }
}

}  // namespace

struct SchemaValidator::Impl {
  std::filesystem::path dir;
  std::map<std::string, json> docs;  // absolute path -> schema with rewritten $refs
  json root;                         // {"$ref": "file:///abs/file.json#ptr"}
  valijson::Schema schema;
  mutable valijson::Validator validator;

  struct Node {
    const json* schema;
    const json* doc;  // the document "#/..." refs resolve against
  };

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

  // Follows "$ref" (within the document or to another loaded file).
  [[nodiscard]] std::optional<Node> follow(Node node) const {
    for (int hops = 0; hops < kMaxExpansionDepth; ++hops) {
      if (!node.schema->is_object()) return node;
      const auto ref = node.schema->find("$ref");
      if (ref == node.schema->end() || !ref->is_string()) return node;
      std::string target = ref->get<std::string>();
      const auto hash = target.find('#');
      const std::string pointer = hash == std::string::npos ? "" : target.substr(hash + 1);
      if (hash != 0) {
        const auto doc = docs.find(target.substr(
            kFileScheme.size(),
            hash == std::string::npos ? std::string::npos : hash - kFileScheme.size()));
        if (doc == docs.end()) return std::nullopt;
        node.doc = &doc->second;
      }
      try {
        node.schema = &node.doc->at(json::json_pointer(pointer));
      } catch (const json::exception&) {
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  // The node plus every schema that applies alongside it (allOf, if/then/else branches).
  void expand(Node node, std::vector<Node>& out, int depth) const {
    if (depth > kMaxExpansionDepth) return;
    auto resolved = follow(node);
    if (!resolved || !resolved->schema->is_object()) return;
    out.push_back(*resolved);
    const json& s = *resolved->schema;
    for (const char* combinator : {"allOf", "anyOf", "oneOf"}) {
      const auto it = s.find(combinator);
      if (it == s.end() || !it->is_array()) continue;
      for (const auto& member : *it) expand({&member, resolved->doc}, out, depth + 1);
    }
    for (const char* branch : {"then", "else"}) {
      const auto it = s.find(branch);
      if (it != s.end()) expand({&*it, resolved->doc}, out, depth + 1);
    }
  }

  // The schema nodes that describe the instance at `path`.
  [[nodiscard]] std::vector<Node> nodesAt(const std::vector<Segment>& path) const {
    std::vector<Node> current;
    expand({&root, &root}, current, 0);
    for (const auto& seg : path) {
      std::vector<Node> next;
      for (const auto& node : current) {
        const json& s = *node.schema;
        if (seg.is_index) {
          const auto items = s.find("items");
          if (items != s.end() && items->is_object()) expand({&*items, node.doc}, next, 0);
        } else {
          const auto props = s.find("properties");
          if (props == s.end() || !props->is_object()) continue;
          const auto child = props->find(seg.key);
          if (child != props->end()) expand({&*child, node.doc}, next, 0);
        }
      }
      current = std::move(next);
    }
    return current;
  }

  [[nodiscard]] std::string keywordAt(const std::vector<Segment>& path, const char* key) const {
    for (const auto& node : nodesAt(path)) {
      const auto it = node.schema->find(key);
      if (it == node.schema->end()) continue;
      return it->is_string() ? it->get<std::string>() : it->dump();
    }
    return {};
  }
};

std::string SchemaError::toString() const { return path.empty() ? message : path + ": " + message; }

SchemaValidator::SchemaValidator(const std::filesystem::path& dir, std::string_view ref)
    : ref_(ref), impl_(std::make_unique<Impl>()) {
  impl_->dir = std::filesystem::absolute(dir).lexically_normal();
  impl_->root = json{{"$ref", std::string(ref)}};
  impl_->rewriteRefs(impl_->root);
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter adapter(impl_->root);
  try {
    parser.populateSchema(
        adapter, impl_->schema,
        [this](const std::string& uri) -> const json* {
          const json* doc = impl_->load(uri);
          if (doc == nullptr) throw SchemaLoadError("schema reference not allowed: " + uri);
          return doc;
        },
        [](const json*) {});  // documents are owned by impl_->docs
  } catch (const SchemaLoadError&) {
    throw;
  } catch (const std::exception& e) {
    throw SchemaLoadError("schema " + std::string(ref) + " in " + dir.string() + ": " + e.what());
  }
}

SchemaValidator::~SchemaValidator() = default;

std::vector<SchemaError> SchemaValidator::validate(const nlohmann::json& instance) const {
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(instance);
  if (impl_->validator.validate(impl_->schema, adapter, &results)) return {};

  struct Raw {
    std::vector<Segment> path;
    std::string description;
  };
  std::vector<Raw> raw;
  bool any_leaf = false;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    Raw r;
    // context is {"<root>", "[key]", "[0]", ...}; the instance tells keys from indexes.
    const json* at = &instance;
    for (std::size_t i = 1; i < error.context.size(); ++i) {
      std::string part = error.context[i];
      if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
        part = part.substr(1, part.size() - 2);
      }
      Segment seg;
      const bool numeric =
          !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
      if (at != nullptr && at->is_array() && numeric) {
        seg.is_index = true;
        seg.index = static_cast<std::size_t>(std::stoull(part));
        at = seg.index < at->size() ? &(*at)[seg.index] : nullptr;
      } else {
        seg.key = part;
        at = (at != nullptr && at->is_object() && at->contains(part)) ? &(*at)[part] : nullptr;
      }
      r.path.push_back(std::move(seg));
    }
    r.description = error.description;
    any_leaf = any_leaf || !isAggregate(r.description);
    raw.push_back(std::move(r));
  }

  std::vector<SchemaError> out;
  std::set<std::string> seen;
  for (auto& r : raw) {
    if (any_leaf && isAggregate(r.description)) continue;
    std::string message;
    if (r.description.starts_with("Missing required property")) {
      r.path.push_back({false, quotedName(r.description), 0});
      message = "is required";
    } else if (r.description.starts_with(
                   "Object contains a property that could not be validated")) {
      r.path.push_back({false, quotedName(r.description), 0});
      message = "is not an allowed field";
    } else if (auto custom = impl_->keywordAt(r.path, "errorMessage"); !custom.empty()) {
      message = custom;
    } else if (r.description.starts_with("Value type not permitted")) {
      const auto type = impl_->keywordAt(r.path, "type");
      message = type.empty() ? "has the wrong type" : "must be of type " + type;
    } else {
      message = r.description;
      if (!message.empty() && message.back() == '.') message.pop_back();
      if (!message.empty()) message[0] = static_cast<char>(std::tolower(message[0]));
    }
    SchemaError e{formatPath(r.path), std::move(message)};
    if (seen.insert(e.toString()).second) out.push_back(std::move(e));
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
