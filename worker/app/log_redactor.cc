#include "worker/app/log_redactor.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <utility>

namespace celeriac::worker::app {
namespace {

// ASCII only, on purpose: the locale must not change what is a secret.
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isAlnum(char c) { return isDigit(c) || isAlpha(c); }
bool isBlank(char c) { return c == ' ' || c == '\t'; }
bool isQuote(char c) { return c == '"' || c == '\''; }

// Characters of an API key or token: base64, base64url, hex, JWT and the separators
// providers put in keys.
bool isTokenChar(char c) {
  return isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '+' || c == '/' || c == '=' ||
         c == '~';
}

// Where a header or key=value value ends (a JSON or shell quote, a list or query
// separator, a closing bracket, an escape of an escaped JSON string).
bool endsValue(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == ',' ||
         c == ';' || c == '&' || c == ')' || c == ']' || c == '}' || c == '<' || c == '>' ||
         c == '\\';
}

// Where a URL's authority ends: RFC 3986 userinfo holds none of these unencoded.
bool endsAuthority(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/' || c == '?' || c == '#' ||
         c == '"' || c == '\'' || c == '<' || c == '>';
}

bool startsWithNoCase(std::string_view text, std::size_t at, std::string_view word) {
  if (text.size() - at < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k) {
    if (lower(text[at + k]) != word[k]) return false;
  }
  return true;
}

constexpr std::size_t kMinTokenLength = 16;

// A long opaque token (not a word, path or dotted name): 16+ token characters with at
// least one digit and one letter.
bool tokenLike(std::string_view value) {
  if (value.size() < kMinTokenLength) return false;
  bool digit = false;
  bool alpha = false;
  for (char c : value) {
    if (!isTokenChar(c)) return false;
    digit = digit || isDigit(c);
    alpha = alpha || isAlpha(c);
  }
  return digit && alpha;
}

struct Span {
  std::size_t begin;
  std::size_t end;  // [begin, end) is masked
};

enum class ValueRule {
  kAny,        // whatever follows is a secret
  kTokenLike,  // only a token-like value (tokenLike) is: `key=primary` is an alias
};

struct NamedValue {
  std::string_view name;  // lower case
  ValueRule rule;
  bool scheme;  // an `Authorization` value may start with a scheme word to keep
};

constexpr std::array kNamedValues = {
    NamedValue{"authorization", ValueRule::kAny, true},
    NamedValue{"password", ValueRule::kAny, false},
    NamedValue{"passwd", ValueRule::kAny, false},
    NamedValue{"secret", ValueRule::kAny, false},
    NamedValue{"api-key", ValueRule::kAny, false},  // also x-api-key, x-goog-api-key
    NamedValue{"api_key", ValueRule::kAny, false},
    NamedValue{"apikey", ValueRule::kAny, false},
    NamedValue{"access_token", ValueRule::kAny, false},
    NamedValue{"refresh_token", ValueRule::kAny, false},
    NamedValue{"key", ValueRule::kTokenLike, false},
    NamedValue{"token", ValueRule::kTokenLike, false},
};

struct KeyPrefix {
  std::string_view prefix;  // case-sensitive, as the providers issue them
  std::size_t min_rest;     // characters after the prefix for it to be a key
};

// OpenAI (sk-, sk-proj-) and Anthropic (sk-ant-), Google (AIza), Groq, xAI,
// Hugging Face and GitHub.
constexpr std::array kKeyPrefixes = {
    KeyPrefix{"sk-", 16},  KeyPrefix{"AIza", 30}, KeyPrefix{"gsk_", 20},
    KeyPrefix{"xai-", 20}, KeyPrefix{"hf_", 30},  KeyPrefix{"ghp_", 30},
};

// `Bearer ` / `Basic ` at `at`: the index after the scheme word and its blanks, or `at`.
std::size_t afterScheme(std::string_view text, std::size_t at) {
  std::size_t word_end = at;
  while (word_end < text.size() && isAlpha(text[word_end]) && word_end - at <= 10) ++word_end;
  if (word_end == at || word_end >= text.size() || !isBlank(text[word_end])) return at;
  std::size_t value = word_end;
  while (value < text.size() && isBlank(text[value])) ++value;
  return value < text.size() && !endsValue(text[value]) ? value : at;
}

// The value after `name` at `at`: name ["'] blanks [:=] blanks ["'] [scheme] value.
// An escaped JSON string's backslash before a quote is skipped too.
std::optional<Span> namedValue(std::string_view text, std::size_t at, const NamedValue& nv) {
  const std::size_t n = text.size();
  std::size_t i = at + nv.name.size();
  auto skip_quote = [&] {
    if (i + 1 < n && text[i] == '\\' && isQuote(text[i + 1])) ++i;
    if (i < n && isQuote(text[i])) ++i;
  };
  skip_quote();
  while (i < n && isBlank(text[i])) ++i;
  if (i >= n || (text[i] != ':' && text[i] != '=')) return std::nullopt;
  ++i;
  while (i < n && isBlank(text[i])) ++i;
  skip_quote();
  if (nv.scheme) i = afterScheme(text, i);
  std::size_t end = i;
  while (end < n && !endsValue(text[end])) ++end;
  if (end == i) return std::nullopt;
  if (nv.rule == ValueRule::kTokenLike && !tokenLike(text.substr(i, end - i))) {
    return std::nullopt;
  }
  return Span{i, end};
}

// `Bearer <token>` without a header name (an error text quoting the header value).
std::optional<Span> bearerValue(std::string_view text, std::size_t at) {
  constexpr std::string_view kBearer = "bearer";
  std::size_t i = at + kBearer.size();
  if (i >= text.size() || !isBlank(text[i])) return std::nullopt;
  while (i < text.size() && isBlank(text[i])) ++i;
  std::size_t end = i;
  while (end < text.size() && isTokenChar(text[end])) ++end;
  if (end - i < 8) return std::nullopt;
  return Span{i, end};
}

// The password of `scheme://user:PASSWORD@host` with `at` on the "://".
std::optional<Span> urlPassword(std::string_view text, std::size_t at) {
  const std::size_t begin = at + 3;
  std::size_t end = begin;
  while (end < text.size() && !endsAuthority(text[end])) ++end;
  const std::string_view authority = text.substr(begin, end - begin);
  const std::size_t at_sign = authority.rfind('@');
  if (at_sign == std::string_view::npos) return std::nullopt;
  const std::size_t colon = authority.substr(0, at_sign).find(':');
  if (colon == std::string_view::npos || colon + 1 == at_sign) return std::nullopt;
  return Span{begin + colon + 1, begin + at_sign};
}

// A provider key at `at` (a word start that is not inside a dashed or snake_case name).
std::optional<Span> providerKey(std::string_view text, std::size_t at) {
  if (at > 0 && (text[at - 1] == '-' || text[at - 1] == '_')) return std::nullopt;
  const std::string_view rest = text.substr(at);
  for (const KeyPrefix& key : kKeyPrefixes) {
    if (!rest.starts_with(key.prefix)) continue;
    std::size_t end = at + key.prefix.size();
    while (end < text.size() && (isAlnum(text[end]) || text[end] == '-' || text[end] == '_')) {
      ++end;
    }
    if (end - at - key.prefix.size() >= key.min_rest) return Span{at, end};
  }
  return std::nullopt;
}

// The first secret that starts at `at`, if any.
std::optional<Span> matchAt(std::string_view text, std::size_t at) {
  const char c = text[at];
  if (c == ':') {
    return text.substr(at, 3) == "://" ? urlPassword(text, at) : std::nullopt;
  }
  if (!isAlpha(c) || (at > 0 && isAlnum(text[at - 1]))) return std::nullopt;
  for (const NamedValue& nv : kNamedValues) {
    if (lower(c) != nv.name[0] || !startsWithNoCase(text, at, nv.name)) continue;
    if (auto span = namedValue(text, at, nv)) return span;
  }
  if (lower(c) == 'b' && startsWithNoCase(text, at, "bearer")) {
    if (auto span = bearerValue(text, at)) return span;
  }
  return providerKey(text, at);
}

// Masks every pattern in one pass. Fills `out` and returns true only when something
// changed.
bool maskPatterns(std::string_view text, std::string& out) {
  bool changed = false;
  std::size_t copied = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::optional<Span> span = matchAt(text, i);
    if (!span) {
      ++i;
      continue;
    }
    if (text.substr(span->begin, span->end - span->begin) != LogRedactor::kMask) {
      if (!changed) {
        out.clear();
        out.reserve(text.size());
        changed = true;
      }
      out.append(text.substr(copied, span->begin - copied));
      out.append(LogRedactor::kMask);
      copied = span->end;
    }
    i = std::max(span->end, i + 1);
  }
  if (changed) out.append(text.substr(copied));
  return changed;
}

}  // namespace

bool LogRedactor::addSecret(std::string secret) {
  if (secret.size() < kMinSecretLength) return false;
  std::unique_lock lock(mutex_);
  if (std::find(secrets_.begin(), secrets_.end(), secret) != secrets_.end()) return true;
  const auto longer_or_equal = [&secret](const std::string& s) {
    return s.size() >= secret.size();
  };
  secrets_.insert(std::partition_point(secrets_.begin(), secrets_.end(), longer_or_equal),
                  std::move(secret));
  return true;
}

std::size_t LogRedactor::secretCount() const {
  std::shared_lock lock(mutex_);
  return secrets_.size();
}

std::optional<std::string> LogRedactor::redactIfNeeded(std::string_view text) const {
  std::string masked;
  bool changed = false;
  {
    std::shared_lock lock(mutex_);
    for (const std::string& secret : secrets_) {
      const std::string_view current = changed ? std::string_view(masked) : text;
      std::size_t pos = current.find(secret);
      if (pos == std::string_view::npos) continue;
      std::string next;
      next.reserve(current.size());
      std::size_t copied = 0;
      while (pos != std::string_view::npos) {
        next.append(current.substr(copied, pos - copied));
        next.append(kMask);
        copied = pos + secret.size();
        pos = current.find(secret, copied);
      }
      next.append(current.substr(copied));
      masked = std::move(next);
      changed = true;
    }
  }
  std::string patterned;
  if (maskPatterns(changed ? std::string_view(masked) : text, patterned)) return patterned;
  if (changed) return masked;
  return std::nullopt;
}

std::string LogRedactor::redact(std::string_view text) const {
  auto masked = redactIfNeeded(text);
  return masked ? std::move(*masked) : std::string(text);
}

LogRedactor& logRedactor() {
  // Leaked on purpose: loggers may still write while statics are destroyed at exit.
  static auto* redactor = new LogRedactor();
  return *redactor;
}

balancer::SecretResolver redactingResolver(balancer::SecretResolver inner, LogRedactor& redactor) {
  return [inner = std::move(inner),
          &redactor](const balancer::SecretRef& ref) -> std::optional<std::string> {
    std::optional<std::string> value = inner ? inner(ref) : std::nullopt;
    if (value) redactor.addSecret(*value);
    return value;
  };
}

}  // namespace celeriac::worker::app
