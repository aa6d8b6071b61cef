#pragma once
// The YAML walking helpers of ConfigLoader::fromYaml, shared by its .cc files
// (config_loader.cc: the document; config_loader_endpoint.cc: endpoints and keys).
// Internal to the balancer. Pure: reads a parsed YAML tree, throws ConfigError naming
// the dotted path of the field at fault (config_error.h: fromYaml turns it into an Error). Holds no
// state; At borrows its node.

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "balancer/config.h"
#include "balancer/config_loader.h"
#include "config/config_error.h"

namespace celeriac::balancer::config_yaml {

using std::chrono::milliseconds;

// Upper bounds that keep every later computation in range: a duration in seconds
// becomes milliseconds (then nanoseconds on a clock), a count is added to and
// multiplied in int arithmetic (max_attempts defaults to 1 + retry_count).
inline constexpr double kMaxSeconds = 30.0 * 24 * 3600;  // 30 days
inline constexpr std::int64_t kMaxCount = 1'000'000;

// A YAML node and the dotted path that reached it, so every error can name its field.
struct At {
  const YAML::Node& node;
  std::string path;

  [[noreturn]] void fail(const std::string& message) const {
    throw ConfigError(path.empty() ? "(document)" : path, message);
  }

  std::string child(std::string_view key) const {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  std::string index(std::size_t i) const { return path + "[" + std::to_string(i) + "]"; }

  void requireMap() const {
    if (!node.IsMap()) fail("must be a mapping");
  }
  // Rejects unknown fields so that a typo ("wieght") is an error, not a silent default.
  void allowOnly(std::initializer_list<std::string_view> keys) const {
    requireMap();
    for (const auto& kv : node) {
      const auto name = keyOf(kv.first);
      bool known = false;
      for (auto k : keys) known = known || k == name;
      if (!known) throw ConfigError(child(name), "unknown field");
    }
  }
  // The name of a mapping key; YAML allows any node as a key ({[a]: 1}), this config
  // only names fields, models and routes with scalars.
  std::string keyOf(const YAML::Node& key) const {
    if (!key.IsScalar() && !key.IsNull()) fail("keys must be plain strings, not lists or maps");
    return key.as<std::string>();
  }
  std::string str() const {
    if (!node.IsScalar()) fail("must be a string");
    return node.Scalar();
  }
  std::string nonEmptyStr() const {
    auto s = str();
    if (s.empty()) fail("must not be empty");
    return s;
  }
  double number() const {
    if (!node.IsScalar()) fail("must be a number");
    try {
      return node.as<double>();
    } catch (const YAML::Exception&) {
      fail("must be a number");
    }
  }
  double positive() const {
    double v = 0;
    try {
      v = number();
    } catch (const ConfigError&) {
      fail("must be a positive number");
    }
    if (!(v > 0)) fail("must be a positive number");
    return v;
  }
  std::int64_t integer(std::int64_t min,
                       std::int64_t max = std::numeric_limits<std::int64_t>::max()) const {
    if (!node.IsScalar()) fail("must be an integer");
    std::int64_t v = 0;
    const std::string& s = node.Scalar();
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) fail("must be an integer");
    if (v < min) fail("must be at least " + std::to_string(min));
    if (v > max) fail("must be at most " + std::to_string(max));
    return v;
  }
  // A count held in an int (attempts, probes, failures): at most kMaxCount.
  int count(int min) const { return static_cast<int>(integer(min, kMaxCount)); }
  bool boolean() const {
    if (!node.IsScalar()) fail("must be true or false");
    try {
      return node.as<bool>();
    } catch (const YAML::Exception&) {
      fail("must be true or false");
    }
  }
  // Seconds in the seed's YAML ("timeout: 60", "interval: 30").
  // At most kMaxSeconds: 1e300 (or .inf) would not fit the milliseconds count.
  milliseconds seconds() const {
    const double v = positive();
    if (v > kMaxSeconds) fail("must be at most 2592000 seconds (30 days)");
    return milliseconds{static_cast<std::int64_t>(v * 1000.0)};
  }
  std::vector<std::string> stringList() const {
    if (!node.IsSequence()) fail("must be a list");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const YAML::Node item = node[i];
      out.push_back(At{item, index(i)}.nonEmptyStr());
    }
    if (out.empty()) fail("must not be empty");
    return out;
  }
};

// Calls fn(At) when `key` is present.
template <typename Fn>
void field(const At& at, std::string_view key, Fn&& fn) {
  const YAML::Node child = at.node[std::string(key)];
  if (child) fn(At{child, at.child(key)});
}

// Parses one item of `endpoints:` (see README "LLM balancer config").
EndpointConfig endpointFrom(const At& at);
// Parses one API key; `allowed` names the fields the caller's context accepts.
ApiKeyConfig keyFrom(const At& at, std::initializer_list<std::string_view> allowed);

}  // namespace celeriac::balancer::config_yaml
