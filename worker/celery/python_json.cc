#include "worker/celery/python_json.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Subtype of the json binary values that hold a big integer's digits.
constexpr std::uint8_t kBigIntegerSubtype = 0x69;  // 'i'

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
constexpr std::string_view kIntTag = "int:";

bool isWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '+';
}

bool isIntegerToken(std::string_view token) {
  return token.find_first_of(".eE") == std::string_view::npos;
}

// Whether an integer token fits nlohmann's int64/uint64 (then it is an ordinary number).
bool fitsSixtyFourBits(std::string_view token) {
  const bool negative = !token.empty() && token.front() == '-';
  const std::string_view digits = negative ? token.substr(1) : token;
  const std::string_view limit = negative ? "9223372036854775808" : "18446744073709551615";
  if (digits.size() != limit.size()) return digits.size() < limit.size();
  return digits <= limit;
}

// Builds the DOM through nlohmann's own SAX DOM builder, intercepting what Python reads
// differently: integer tokens too large for 64 bits (nlohmann would round them to a
// double) and our substitution markers (strings that begin with NUL + the nonce).
class PythonSax {
 public:
  PythonSax(json& result, std::string marker) : dom_(result, false), marker_(std::move(marker)) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const std::string& token) {
    if (isIntegerToken(token)) {
      json big = makeBigInteger(token);
      return dom_.binary(big.get_binary());
    }
    return dom_.number_float(v, token);
  }
  bool string(std::string& s) {
    if (!marker_.empty() && s.size() > marker_.size() &&
        s.compare(0, marker_.size(), marker_) == 0) {
      ++markers_seen_;
      const std::string_view tag = std::string_view(s).substr(marker_.size());
      if (tag.substr(0, kIntTag.size()) == kIntTag) {
        json big = makeBigInteger(tag.substr(kIntTag.size()));
        return dom_.binary(big.get_binary());
      }
      for (const NonFinite& nf : kNonFinite) {
        if (tag == nf.tag) return dom_.number_float(nf.value, std::string(nf.token));
      }
    }
    return dom_.string(s);
  }
  bool binary(json::binary_t& b) { return dom_.binary(b); }
  bool start_object(std::size_t n) { return deeper() && dom_.start_object(n); }
  bool key(std::string& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return deeper() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = e.what();
    return false;
  }

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] std::size_t markersSeen() const { return markers_seen_; }

 private:
  bool deeper() {
    if (++depth_ <= kMaxJsonDepth) return true;
    error_ = "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::string marker_;
  std::string error_;
  std::size_t depth_ = 0;
  std::size_t markers_seen_ = 0;
};

// One SAX pass; an error when the text is not (Python) JSON.
Result<json> parseWith(std::string_view text, const std::string& marker,
                       std::size_t expected_markers) {
  json result;
  PythonSax sax(result, marker);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const json::exception& e) {  // the input adapter reports invalid UTF-8 so
    return Error{e.what()};
  }
  if (!ok || sax.markersSeen() != expected_markers) {
    return Error{sax.error().empty() ? "parse error: invalid JSON" : sax.error()};
  }
  return result;
}

// Length of the JSON number token starting at text[i] (0 when none starts there).
std::size_t numberTokenLength(std::string_view text, std::size_t i) {
  std::size_t end = i;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) != 0 || text[end] == '-' ||
          text[end] == '+' || text[end] == '.' || text[end] == 'e' || text[end] == 'E')) {
    ++end;
  }
  return end - i;
}

// The marker text that replaces a number token Python reads but nlohmann cannot (an
// integer past a double's range, a float literal that overflows), or "" to keep it.
std::string numberReplacement(std::string_view token) {
  if (isIntegerToken(token)) {
    if (fitsSixtyFourBits(token)) return {};
    const std::string copy(token);
    errno = 0;
    const double as_double = std::strtod(copy.c_str(), nullptr);
    if (std::isfinite(as_double)) return {};  // the SAX pass keeps its digits
    return std::string(kIntTag) + copy;
  }
  const std::string copy(token);
  const double value = std::strtod(copy.c_str(), nullptr);
  if (std::isfinite(value)) return {};
  return value > 0 ? "inf" : "-inf";
}

// Rewrites what only Python reads (outside strings) to `"\u0000<nonce><tag>"` markers.
// Returns the number of replacements.
std::size_t substituteTokens(std::string_view text, const std::string& nonce, std::string& out) {
  std::size_t count = 0;
  bool in_string = false;
  out.clear();
  out.reserve(text.size() + 64);
  const auto emitMarker = [&](std::string_view tag) {
    out += "\"\\u0000";
    out += nonce;
    out += tag;
    out += '"';
    ++count;
  };
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
    const bool token_start = i == 0 || !isWordChar(text[i - 1]);
    bool replaced = false;
    if (token_start) {
      for (const NonFinite& nf : kNonFinite) {
        const std::size_t end = i + nf.token.size();
        if (text.substr(i, nf.token.size()) == nf.token &&
            (end == text.size() || !isWordChar(text[end]))) {
          emitMarker(nf.tag);
          i = end - 1;
          replaced = true;
          break;
        }
      }
      if (!replaced && (c == '-' || std::isdigit(static_cast<unsigned char>(c)) != 0)) {
        const std::size_t length = numberTokenLength(text, i);
        const std::string tag = numberReplacement(text.substr(i, length));
        if (!tag.empty()) {
          emitMarker(tag);
          i += length - 1;
          replaced = true;
        }
      }
    }
    if (!replaced) out += c;
  }
  return count;
}

// A nonce that occurs nowhere in `text`, so no string in it can look like a marker.
std::string nonceAbsentFrom(std::string_view text, std::string_view stem) {
  for (unsigned attempt = 0;; ++attempt) {
    std::string nonce = std::string(stem) + std::to_string(attempt) + "-";
    if (text.find(nonce) == std::string_view::npos) return nonce;
  }
}

// ---- dumping ----

template <class J>
bool hasPythonOnlyValues(const J& value) {
  if (value.is_number_float()) return !std::isfinite(value.template get<double>());
  if (value.is_binary()) return true;
  if (value.is_structured()) {
    for (const auto& child : value) {
      if (hasPythonOnlyValues(child)) return true;
    }
  }
  return false;
}

// Replaces every Python-only value by a string marker "\0<nonce><index>" and records
// the text that must stand in its place.
template <class J>
void markPythonOnlyValues(J& value, const std::string& nonce, std::vector<std::string>& texts) {
  std::string text;
  if (value.is_number_float()) {
    const double d = value.template get<double>();
    if (std::isfinite(d)) return;
    text = std::isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity");
  } else if (value.is_binary()) {
    const auto& bytes = value.get_binary();
    text.assign(bytes.begin(), bytes.end());
    if (text.empty()) text = "0";
  } else {
    if (value.is_structured()) {
      for (auto& child : value) markPythonOnlyValues(child, nonce, texts);
    }
    return;
  }
  value = std::string(1, '\0') + nonce + std::to_string(texts.size());
  texts.push_back(std::move(text));
}

template <class J>
std::string dumpImpl(const J& value) {
  if (!hasPythonOnlyValues(value)) return value.dump(-1, ' ', false, J::error_handler_t::replace);
  for (unsigned attempt = 0;; ++attempt) {
    const std::string nonce = "celeriac-dump-" + std::to_string(attempt) + "-";
    J marked = value;
    std::vector<std::string> texts;
    markPythonOnlyValues(marked, nonce, texts);
    const std::string dumped = marked.dump(-1, ' ', false, J::error_handler_t::replace);
    // nlohmann escapes the NUL as \u0000; a marker is the whole quoted string.
    const std::string opening = "\"\\u0000" + nonce;
    std::string out;
    out.reserve(dumped.size());
    std::size_t pos = 0;
    std::size_t replaced = 0;
    bool clean = true;
    while (true) {
      const std::size_t at = dumped.find(opening, pos);
      if (at == std::string::npos) break;
      const std::size_t digits = at + opening.size();
      const std::size_t close = dumped.find('"', digits);
      std::size_t index = texts.size();
      if (close != std::string::npos && close > digits) {
        index = static_cast<std::size_t>(std::strtoull(dumped.c_str() + digits, nullptr, 10));
      }
      if (index >= texts.size()) {
        clean = false;
        break;
      }
      out.append(dumped, pos, at - pos);
      out += texts[index];
      pos = close + 1;
      ++replaced;
    }
    // A string of the value's own that starts with NUL + this nonce: use another one.
    if (!clean || replaced != texts.size()) continue;
    out.append(dumped, pos, std::string::npos);
    return out;
  }
}

}  // namespace

bool isBigInteger(const json& value) {
  return value.is_binary() && value.get_binary().has_subtype() &&
         value.get_binary().subtype() == kBigIntegerSubtype;
}

json makeBigInteger(std::string_view digits) {
  return json::binary(std::vector<std::uint8_t>(digits.begin(), digits.end()), kBigIntegerSubtype);
}

std::string bigIntegerDigits(const json& value) {
  const auto& bytes = value.get_binary();
  return std::string(bytes.begin(), bytes.end());
}

Result<json> parsePythonJson(std::string_view text) {
  Result<json> strict = parseWith(text, {}, 0);
  if (strict) return strict;
  // Only when strict JSON failed: substitute what Python reads but nlohmann cannot.
  const std::string nonce = nonceAbsentFrom(text, "celeriac-py-");
  std::string rewritten;
  const std::size_t inserted = substituteTokens(text, nonce, rewritten);
  if (inserted == 0) return strict;  // nothing Python-only: the strict error stands
  Result<json> python = parseWith(rewritten, std::string(1, '\0') + nonce, inserted);
  if (!python) return strict;  // still invalid: report the error of the original text
  return python;
}

std::string dumpPythonJson(const json& value) { return dumpImpl(value); }
std::string dumpPythonJson(const ordered_json& value) { return dumpImpl(value); }

}  // namespace celeriac::worker::celery
