// The words for JSON Schema violations (see common/schema_messages.h).

#include "common/schema_messages.h"

#include <cctype>
#include <cstddef>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include <valijson/validation_results.hpp>

namespace celeriac::inline common {
namespace {

using nlohmann::json;

// Bounds the $ref / allOf / if-then-else expansion (the schemas have no cycles; this
// keeps a future mistake from recursing without end).
constexpr int kMaxDepth = 16;

// One step into the instance: a mapping key or a list index.
struct PathSegment {
  bool is_index = false;
  std::string key;
  std::size_t index = 0;
};

// "endpoints[0].weight"; empty for the document itself.
std::string formatPath(const std::vector<PathSegment>& path) {
  std::string out;
  for (const auto& s : path) {
    if (s.is_index) {
      out += '[';
      out += std::to_string(s.index);
      out += ']';
    } else {
      if (!out.empty()) out += '.';
      out += s.key;
    }
  }
  return out;
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

// valijson's wrappers around a failing child: the child's own error says it better.
bool isAggregate(const std::string& description) {
  static constexpr std::string_view kPrefixes[] = {
      "Failed to validate against schema associated with property name",
      "Failed to validate against additional properties schema",
      "Failed to validate item #",
      "Failed to validate against child schema",
      "Failed to validate against a conditional schema",
      "Failed to validate against any schemas allowed by anyOf",
      "Failed to validate against exactly one child schema",
  };
  for (auto prefix : kPrefixes) {
    if (description.starts_with(prefix)) return true;
  }
  return false;
}

// valijson's description prefix -> the keyword that failed. Longer prefixes first.
struct KeywordOf {
  std::string_view prefix;
  std::string_view keyword;
};
constexpr KeywordOf kKeywords[] = {
    {"Value type not permitted", "type"},
    {"Failed to match against any enum values", "enum"},
    {"Expected number greater than or equal to", "minimum"},
    {"Expected number greater than", "exclusiveMinimum"},
    {"Expected number less than or equal to", "maximum"},
    {"Expected number less than", "exclusiveMaximum"},
    {"String should be no fewer than", "minLength"},
    {"String should be no more than", "maxLength"},
    {"Array should contain no fewer than", "minItems"},
    {"Array should contain no more than", "maxItems"},
    {"Failed to match regex", "pattern"},
};

// The keyword a description reports; empty for one this file does not word.
std::string_view keywordOf(const std::string& description) {
  for (const auto& [prefix, keyword] : kKeywords) {
    if (description.starts_with(prefix)) return keyword;
  }
  return {};
}

// The text between the last pair of single quotes: valijson quotes property names there.
std::string quotedName(const std::string& description) {
  const auto end = description.rfind('\'');
  if (end == std::string::npos || end == 0) return {};
  const auto begin = description.rfind('\'', end - 1);
  if (begin == std::string::npos) return {};
  return description.substr(begin + 1, end - begin - 1);
}

// How a config's author calls a JSON type: YAML has lists and mappings (Python, lists
// and dicts, which are mappings).
std::string typePhrase(const std::string& type) {
  if (type == "string") return "a string";
  if (type == "number") return "a number";
  if (type == "integer") return "an integer";
  if (type == "boolean") return "true or false";
  if (type == "array") return "a list";
  if (type == "object") return "a mapping";
  return type;
}

std::string plain(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// "a", "a or b", "one of a, b, c".
std::string choices(const json& values, bool as_types) {
  std::vector<std::string> items;
  if (values.is_array()) {
    for (const auto& v : values) items.push_back(as_types ? typePhrase(plain(v)) : plain(v));
  } else {
    items.push_back(as_types ? typePhrase(plain(values)) : plain(values));
  }
  if (items.size() == 2) return items[0] + " or " + items[1];
  std::string out = items.size() > 2 ? "one of " : "";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i > 0 ? ", " : "") + items[i];
  return out;
}

// What `keyword` (with its schema value) asks for, as a rule; empty if unworded.
std::string ruleOf(std::string_view keyword, const json& value) {
  if (keyword == "type") return "must be " + choices(value, true);
  if (keyword == "enum") return "must be " + choices(value, false);
  if (keyword == "minimum") return "must be at least " + plain(value);
  if (keyword == "exclusiveMinimum") {
    return value == 0 ? "must be a positive number" : "must be greater than " + plain(value);
  }
  if (keyword == "maximum") return "must be at most " + plain(value);
  if (keyword == "exclusiveMaximum") return "must be less than " + plain(value);
  if (keyword == "minLength" || keyword == "minItems") {
    if (value == 1) return "must not be empty";
    return "must have at least " + plain(value) +
           (keyword == "minLength" ? " characters" : " items");
  }
  if (keyword == "maxLength") return "must have at most " + plain(value) + " characters";
  if (keyword == "maxItems") return "must have at most " + plain(value) + " items";
  if (keyword == "pattern") return "must match " + plain(value);
  return {};
}

// A schema node and the document its "#/..." references resolve against.
struct SchemaNode {
  const json* schema = nullptr;
  const json* doc = nullptr;
};

// The schema nodes that describe the instance at a path: each node with what its
// "$ref", "allOf"/"anyOf"/"oneOf" and "then"/"else" add, nearest first.
class NodesAt {
 public:
  NodesAt(const json& root, const SchemaDocumentLookup& documents,
          const std::vector<PathSegment>& path)
      : documents_(documents) {
    expand({&root, &root}, nodes_, 0);
    for (const auto& seg : path) {
      std::vector<SchemaNode> next;
      for (const SchemaNode& node : nodes_) {
        const json& s = *node.schema;
        if (seg.is_index) {
          const auto items = s.find("items");
          if (items != s.end()) expand({&*items, node.doc}, next, 0);
          continue;
        }
        const auto props = s.find("properties");
        if (props != s.end() && props->is_object() && props->contains(seg.key)) {
          expand({&props->at(seg.key), node.doc}, next, 0);
        } else if (const auto more = s.find("additionalProperties"); more != s.end()) {
          expand({&*more, node.doc}, next, 0);
        }
      }
      nodes_ = std::move(next);
    }
  }

  // The first node's value of `keyword`, or nullptr.
  [[nodiscard]] const json* keyword(std::string_view keyword) const {
    for (const SchemaNode& node : nodes_) {
      const auto it = node.schema->find(keyword);
      if (it != node.schema->end()) return &*it;
    }
    return nullptr;
  }

  // The nearest "errorMessage" for `keyword`: a string applies to every keyword.
  [[nodiscard]] std::string errorMessage(std::string_view keyword) const {
    for (const SchemaNode& node : nodes_) {
      const auto it = node.schema->find("errorMessage");
      if (it == node.schema->end()) continue;
      if (it->is_string()) return it->get<std::string>();
      if (it->is_object() && !keyword.empty()) {
        const auto by_keyword = it->find(keyword);
        if (by_keyword != it->end() && by_keyword->is_string()) {
          return by_keyword->get<std::string>();
        }
      }
    }
    return {};
  }

 private:
  void expand(SchemaNode node, std::vector<SchemaNode>& out, int depth) const {
    if (depth > kMaxDepth || !node.schema->is_object()) return;
    out.push_back(node);
    const json& s = *node.schema;
    if (const auto ref = s.find("$ref"); ref != s.end() && ref->is_string()) {
      if (const auto target = resolve(ref->get_ref<const std::string&>(), node.doc)) {
        expand(*target, out, depth + 1);
      }
    }
    for (const char* combinator : {"allOf", "anyOf", "oneOf"}) {
      const auto it = s.find(combinator);
      if (it == s.end() || !it->is_array()) continue;
      for (const auto& member : *it) expand({&member, node.doc}, out, depth + 1);
    }
    for (const char* branch : {"then", "else"}) {
      const auto it = s.find(branch);
      if (it != s.end()) expand({&*it, node.doc}, out, depth + 1);
    }
  }

  // "#/definitions/x" within `doc`, "other.json#/definitions/x" in a lent document.
  [[nodiscard]] std::optional<SchemaNode> resolve(const std::string& ref, const json* doc) const {
    const auto hash = ref.find('#');
    if (hash != 0) {
      doc = documents_ ? documents_(ref.substr(0, hash)) : nullptr;
      if (doc == nullptr) return std::nullopt;
    }
    try {
      const json::json_pointer pointer(hash == std::string::npos ? "" : ref.substr(hash + 1));
      if (!doc->contains(pointer)) return std::nullopt;
      return SchemaNode{&doc->at(pointer), doc};
    } catch (const json::exception&) {  // not a JSON pointer: nothing to word from
      return std::nullopt;
    }
  }

  const SchemaDocumentLookup& documents_;
  std::vector<SchemaNode> nodes_;
};

// The message for valijson's `description` at `path`. A missing or unknown field is
// reported at the field's own path, so `path` gains that field's name.
std::string messageFor(const json& schema, const SchemaWording& wording,
                       std::vector<PathSegment>& path, const std::string& description) {
  if (description.starts_with("Missing required property")) {
    path.push_back({false, quotedName(description), 0});
    return "is required";
  }
  if (description.starts_with("Object contains a property that could not be validated")) {
    path.push_back({false, quotedName(description), 0});
    return wording.unknown_field;
  }
  const std::string_view keyword = keywordOf(description);
  const NodesAt nodes(schema, wording.documents, path);
  if (auto custom = nodes.errorMessage(keyword); !custom.empty()) return custom;
  if (!keyword.empty()) {
    if (const json* value = nodes.keyword(keyword)) {
      if (auto rule = ruleOf(keyword, *value); !rule.empty()) return rule;
    }
    if (keyword == "type") return "has the wrong type";
  }
  // A rule this file does not word: valijson's text, as a lower-case clause.
  std::string message = description;
  if (!message.empty() && message.back() == '.') message.pop_back();
  if (!message.empty()) message[0] = static_cast<char>(std::tolower(message[0]));
  return message;
}

}  // namespace

std::vector<SchemaViolation> describeViolations(valijson::ValidationResults& results,
                                                const json& instance, const json& schema,
                                                const SchemaWording& wording) {
  struct Raw {
    std::vector<PathSegment> path;
    std::string description;
  };
  std::vector<Raw> raw;
  bool any_leaf = false;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    Raw r{pathOf(error.context, instance), error.description};
    any_leaf = any_leaf || !isAggregate(r.description);
    raw.push_back(std::move(r));
  }
  std::vector<SchemaViolation> out;
  std::set<std::pair<std::string, std::string>> seen;
  for (auto& r : raw) {
    if (any_leaf && isAggregate(r.description)) continue;
    std::string message = messageFor(schema, wording, r.path, r.description);
    SchemaViolation v{formatPath(r.path), std::move(message)};
    if (seen.emplace(v.path, v.message).second) out.push_back(std::move(v));
  }
  return out;
}

}  // namespace celeriac::inline common
