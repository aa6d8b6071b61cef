// A YAML document as JSON for a JSON Schema (see common/yaml_to_json.h).

#include "common/yaml_to_json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace celeriac::inline common {
namespace {

using nlohmann::json;

// A config is a few hundred values; aliases can repeat a subtree many times over (or
// refer to their own ancestor), so the copy is bounded in depth and in size.
constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxValues = 100'000;

// YAML 1.2 core schema resolution of a plain (unquoted) scalar.
json plainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  const bool negative = s.front() == '-';
  const std::string_view unsigned_part =
      std::string_view(s).substr(s.front() == '+' || negative ? 1 : 0);
  if (unsigned_part == ".inf" || unsigned_part == ".Inf" || unsigned_part == ".INF") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  const char* first = s.data() + (s.front() == '+' ? 1 : 0);
  const char* last = s.data() + s.size();
  std::int64_t i = 0;
  if (auto [p, ec] = std::from_chars(first, last, i); ec == std::errc() && p == last) return i;
  if (s.find_first_of("0123456789") != std::string::npos &&
      s.find_first_not_of("0123456789+-.eE") == std::string::npos) {
    double d = 0;
    if (auto [p, ec] = std::from_chars(first, last, d);
        ec == std::errc() && p == last && std::isfinite(d)) {
      return d;
    }
  }
  return s;
}

// Well-formed UTF-8 (no stray continuation byte, no truncated or overlong sequence, no
// surrogate, nothing above U+10FFFF). valijson counts characters (minLength) assuming
// it and reads past a table on a run of continuation bytes (found by config_loader_fuzz).
bool isUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMinOfLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinOfLength[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// How the walk stops at the first value JSON cannot carry, however deep it is; caught
// by yamlToJson() and returned as its Error, so it never leaves this file.
struct Refusal {
  Error error;
};

class Converter {
 public:
  json convert(const YAML::Node& node, const std::string& path, int depth) {
    if (depth > kMaxDepth) fail(path, "is nested too deeply (more than 64 levels)");
    if (++values_ > kMaxValues) fail(path, "the document is too large (over 100000 values)");
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        if (!isUtf8(node.Scalar())) fail(path, "is not valid UTF-8");
        // yaml-cpp tags a plain scalar "?", a quoted or block one "!".
        if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return node.Scalar();
        return plainScalar(node.Scalar());
      case YAML::NodeType::Sequence: {
        json out = json::array();
        for (std::size_t i = 0; i < node.size(); ++i) {
          out.push_back(convert(node[i], path + "[" + std::to_string(i) + "]", depth + 1));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& kv : node) {
          // The configs name fields, models, routes and tasks with scalars; YAML allows
          // any node as a key ({[a]: 1}).
          if (!kv.first.IsScalar() && !kv.first.IsNull()) {
            fail(path, "keys must be plain strings, not lists or maps");
          }
          const auto key = kv.first.as<std::string>();
          if (!isUtf8(key)) fail(path, "has a key that is not valid UTF-8");
          const std::string child = path.empty() ? key : path + "." + key;
          if (out.contains(key)) fail(child, "appears twice");
          out[key] = convert(kv.second, child, depth + 1);
        }
        return out;
      }
    }
    return nullptr;
  }

 private:
  [[noreturn]] static void fail(const std::string& path, const std::string& message) {
    throw Refusal{Error{message}.in(path.empty() ? "(document)" : path)};
  }

  std::size_t values_ = 0;
};

}  // namespace

Result<json> yamlToJson(const YAML::Node& root) {
  try {
    return Converter().convert(root, "", 0);
  } catch (const Refusal& refusal) {
    return refusal.error;
  }
}

}  // namespace celeriac::inline common
