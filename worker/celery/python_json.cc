#include "worker/celery/python_json.h"

#include <limits>
#include <vector>

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

// The three tokens Python writes for non-finite floats (json.dumps allow_nan=True).
struct NonFinite {
  std::string_view token;
  std::string_view tag;
  double value;
};
const NonFinite kNonFinite[] = {
    {"-Infinity", "-inf", -std::numeric_limits<double>::infinity()},
    {"Infinity", "inf", std::numeric_limits<double>::infinity()},
    {"NaN", "nan", std::numeric_limits<double>::quiet_NaN()},
};

bool isWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '+';
}

// nlohmann reports failures by exception; keep them inside this file and turn them
// into values (DESIGN.md: expected failures are values).
std::optional<json> parseStrict(std::string_view text, std::string& error) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    error = e.what();
    return std::nullopt;
  }
}

// Rewrites non-finite tokens outside strings to `"\u0000<prefix><tag>"` markers.
// Returns the number of replacements.
std::size_t substituteTokens(std::string_view text, const std::string& prefix, std::string& out) {
  std::size_t count = 0;
  bool in_string = false;
  out.clear();
  out.reserve(text.size() + 64);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool replaced = false;
    if (i == 0 || !isWordChar(text[i - 1])) {
      for (const NonFinite& nf : kNonFinite) {
        const std::size_t end = i + nf.token.size();
        if (text.substr(i, nf.token.size()) == nf.token &&
            (end == text.size() || !isWordChar(text[end]))) {
          out += "\"\\u0000";
          out += prefix;
          out += nf.tag;
          out += '"';
          i = end - 1;
          ++count;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += c;
  }
  return count;
}

// Replaces marker strings (in value positions) by their doubles; returns how many.
std::size_t restoreMarkers(json& value, const std::string& marker) {
  std::size_t count = 0;
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text.size() > marker.size() && text.compare(0, marker.size(), marker) == 0) {
      const std::string_view tag = std::string_view(text).substr(marker.size());
      for (const NonFinite& nf : kNonFinite) {
        if (tag == nf.tag) {
          value = nf.value;
          return 1;
        }
      }
    }
  } else if (value.is_structured()) {
    for (auto& child : value) count += restoreMarkers(child, marker);
  }
  return count;
}

}  // namespace

PythonJsonResult parsePythonJson(std::string_view text) {
  PythonJsonResult result;
  result.value = parseStrict(text, result.error);
  if (result.value) return result;

  // A marker collides only if the input itself holds the same string; then the
  // count of restored markers differs from the count inserted and we try another.
  constexpr int kAttempts = 4;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const std::string prefix = "celeriac-nonfinite-" + std::to_string(attempt) + "-";
    std::string rewritten;
    const std::size_t inserted = substituteTokens(text, prefix, rewritten);
    if (inserted == 0) return result;  // no such tokens: the strict error stands
    std::string ignored;
    std::optional<json> parsed = parseStrict(rewritten, ignored);
    if (!parsed) return result;  // still invalid: report the error of the original text
    if (restoreMarkers(*parsed, std::string(1, '\0') + prefix) == inserted) {
      result.value = std::move(parsed);
      result.error.clear();
      return result;
    }
  }
  return result;
}

}  // namespace celeriac::worker::celery
