// Start-up error text for a schema violation (see schema_messages.h).

#include "config/schema_messages.h"

#include <cctype>
#include <string_view>

namespace celeriac::balancer::config_schema {
namespace {

using nlohmann::json;

// Bounds the $ref / allOf / if-then-else expansion (the schema has no cycles; this
// keeps a future mistake from recursing without end).
constexpr int kMaxDepth = 16;

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

// The text between the last pair of single quotes: valijson quotes property names there.
std::string quotedName(const std::string& description) {
  const auto end = description.rfind('\'');
  if (end == std::string::npos || end == 0) return {};
  const auto begin = description.rfind('\'', end - 1);
  if (begin == std::string::npos) return {};
  return description.substr(begin + 1, end - begin - 1);
}

// How a config's author calls a JSON type: YAML has lists and mappings.
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

// The schema nodes that describe the config at a path: each node with what its "$ref",
// "allOf"/"anyOf"/"oneOf" and "then"/"else" add, nearest first.
class NodesAt {
 public:
  NodesAt(const json& root, const std::vector<PathSegment>& path) : root_(root) {
    expand(&root, nodes_, 0);
    for (const auto& seg : path) {
      std::vector<const json*> next;
      for (const json* node : nodes_) {
        if (seg.is_index) {
          const auto items = node->find("items");
          if (items != node->end()) expand(&*items, next, 0);
          continue;
        }
        const auto props = node->find("properties");
        if (props != node->end() && props->is_object() && props->contains(seg.key)) {
          expand(&props->at(seg.key), next, 0);
        } else if (const auto more = node->find("additionalProperties"); more != node->end()) {
          expand(&*more, next, 0);
        }
      }
      nodes_ = std::move(next);
    }
  }

  // The first node's value of `keyword`, or nullptr.
  [[nodiscard]] const json* keyword(std::string_view keyword) const {
    for (const json* node : nodes_) {
      const auto it = node->find(keyword);
      if (it != node->end()) return &*it;
    }
    return nullptr;
  }

  // The nearest "errorMessage" for `keyword`: a string applies to every keyword.
  [[nodiscard]] std::string errorMessage(std::string_view keyword) const {
    for (const json* node : nodes_) {
      const auto it = node->find("errorMessage");
      if (it == node->end()) continue;
      if (it->is_string()) return it->get<std::string>();
      if (it->is_object()) {
        const auto by_keyword = it->find(keyword);
        if (by_keyword != it->end() && by_keyword->is_string())
          return by_keyword->get<std::string>();
      }
    }
    return {};
  }

 private:
  void expand(const json* node, std::vector<const json*>& out, int depth) const {
    if (depth > kMaxDepth || !node->is_object()) return;
    out.push_back(node);
    if (const auto ref = node->find("$ref"); ref != node->end() && ref->is_string()) {
      const std::string& target = ref->get_ref<const std::string&>();
      if (target.starts_with('#')) {  // the schema refers only within itself
        const json::json_pointer pointer(target.substr(1));
        if (root_.contains(pointer)) expand(&root_.at(pointer), out, depth + 1);
      }
    }
    for (const char* combinator : {"allOf", "anyOf", "oneOf"}) {
      const auto it = node->find(combinator);
      if (it == node->end() || !it->is_array()) continue;
      for (const auto& member : *it) expand(&member, out, depth + 1);
    }
    for (const char* branch : {"then", "else"}) {
      const auto it = node->find(branch);
      if (it != node->end()) expand(&*it, out, depth + 1);
    }
  }

  const json& root_;
  std::vector<const json*> nodes_;
};

// What `keyword` (with its schema value) asks for, as a rule.
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

}  // namespace

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

std::string messageFor(const json& schema, std::vector<PathSegment>& path,
                       const std::string& description) {
  if (description.starts_with("Missing required property")) {
    path.push_back({false, quotedName(description), 0});
    return "is required";
  }
  if (description.starts_with("Object contains a property that could not be validated")) {
    path.push_back({false, quotedName(description), 0});
    return "unknown field";
  }
  for (const auto& [prefix, keyword] : kKeywords) {
    if (!description.starts_with(prefix)) continue;
    const NodesAt nodes(schema, path);
    if (auto custom = nodes.errorMessage(keyword); !custom.empty()) return custom;
    if (const json* value = nodes.keyword(keyword)) {
      if (auto rule = ruleOf(keyword, *value); !rule.empty()) return rule;
    }
    break;
  }
  // A rule this file does not word: valijson's text, as a lower-case clause.
  std::string message = description;
  if (!message.empty() && message.back() == '.') message.pop_back();
  if (!message.empty()) message[0] = static_cast<char>(std::tolower(message[0]));
  return message;
}

}  // namespace celeriac::balancer::config_schema
