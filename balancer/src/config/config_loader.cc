#include "balancer/config_loader.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <limits>
#include <set>

namespace celeriac::balancer {
namespace {

using std::chrono::milliseconds;

// Upper bounds that keep every later computation in range: a duration in seconds
// becomes milliseconds (then nanoseconds on a clock), a count is added to and
// multiplied in int arithmetic (max_attempts defaults to 1 + retry_count).
constexpr double kMaxSeconds = 30.0 * 24 * 3600;  // 30 days
constexpr std::int64_t kMaxCount = 1'000'000;

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

SecretRef secretFrom(const At& at, std::string_view env_key, std::string_view file_key) {
  SecretRef ref;
  field(at, env_key, [&](const At& a) { ref.env = a.nonEmptyStr(); });
  field(at, file_key, [&](const At& a) { ref.file = a.nonEmptyStr(); });
  if (!ref.env.empty() && !ref.file.empty()) {
    throw ConfigError(at.child(env_key), std::string("give either ") + std::string(env_key) +
                                             " or " + std::string(file_key) + ", not both");
  }
  return ref;
}

ApiKeyConfig keyFrom(const At& at, std::initializer_list<std::string_view> allowed) {
  at.allowOnly(allowed);
  ApiKeyConfig key;
  field(at, "alias", [&](const At& a) { key.alias = a.nonEmptyStr(); });
  if (key.alias.empty()) throw ConfigError(at.child("alias"), "is required");
  key.secret = secretFrom(at, "env", "file");
  if (key.secret.env.empty() && key.secret.file.empty()) {
    throw ConfigError(at.child("env"), "is required (or file)");
  }
  field(at, "quota_group", [&](const At& a) { key.quota_group = a.nonEmptyStr(); });
  field(at, "shared", [&](const At& a) { key.shared = a.boolean(); });
  return key;
}

Provider providerFrom(const At& at) {
  const std::string p = at.str();
  if (p == "openai") return Provider::kOpenAi;
  if (p == "anthropic") return Provider::kAnthropic;
  at.fail("must be openai or anthropic");
}

EndpointConfig endpointFrom(const At& at) {
  at.allowOnly({"name", "url", "base_url", "provider", "api_key_env", "api_key_file", "keys",
                "models", "weight", "max_tokens", "temperature", "limits", "timeouts",
                "quota_group", "shared", "replicas"});
  EndpointConfig ep;
  field(at, "name", [&](const At& a) { ep.name = a.nonEmptyStr(); });
  field(at, "url", [&](const At& a) { ep.base_url = a.nonEmptyStr(); });
  field(at, "base_url", [&](const At& a) { ep.base_url = a.nonEmptyStr(); });
  if (ep.base_url.empty()) throw ConfigError(at.child("url"), "is required");
  if (!ep.base_url.starts_with("http://") && !ep.base_url.starts_with("https://")) {
    throw ConfigError(at.child("url"), "must start with http:// or https://");
  }
  while (ep.base_url.ends_with('/')) ep.base_url.pop_back();
  if (ep.name.empty()) ep.name = ep.base_url;
  field(at, "provider", [&](const At& a) { ep.provider = providerFrom(a); });
  field(at, "models", [&](const At& a) { ep.models = a.stringList(); });
  if (ep.models.empty()) ep.models = {"*"};
  field(at, "weight", [&](const At& a) { ep.weight = a.positive(); });
  field(at, "max_tokens", [&](const At& a) { ep.max_tokens = a.integer(1); });
  field(at, "temperature", [&](const At& a) {
    const double t = a.number();
    if (t < 0 || t > 2) a.fail("must be between 0 and 2");
    ep.temperature = t;
  });
  field(at, "quota_group", [&](const At& a) { ep.quota_group = a.nonEmptyStr(); });
  field(at, "shared", [&](const At& a) { ep.shared = a.boolean(); });
  field(at, "replicas", [&](const At& a) { ep.replicas = a.integer(1); });
  field(at, "timeouts", [&](const At& a) {
    a.allowOnly({"connect", "total"});
    field(a, "connect", [&](const At& t) { ep.connect_timeout = t.seconds(); });
    field(a, "total", [&](const At& t) { ep.total_timeout = t.seconds(); });
  });
  field(at, "limits", [&](const At& a) {
    a.requireMap();
    for (const auto& kv : a.node) {
      const auto model = a.keyOf(kv.first);
      const At lim{kv.second, a.child(model)};
      lim.allowOnly({"rpm", "tpm"});
      RateLimits limits;
      field(lim, "rpm", [&](const At& r) { limits.rpm = r.integer(1); });
      field(lim, "tpm", [&](const At& r) { limits.tpm = r.integer(1); });
      ep.limits[model] = limits;
    }
  });
  const SecretRef single = secretFrom(at, "api_key_env", "api_key_file");
  if (!single.env.empty() || !single.file.empty()) {
    ep.keys.push_back(ApiKeyConfig{ep.name, single, "", std::nullopt});
  }
  field(at, "keys", [&](const At& a) {
    if (!a.node.IsSequence()) a.fail("must be a list");
    for (std::size_t i = 0; i < a.node.size(); ++i) {
      const YAML::Node item = a.node[i];
      ep.keys.push_back(
          keyFrom(At{item, a.index(i)}, {"alias", "env", "file", "quota_group", "shared"}));
    }
  });
  return ep;
}

template <typename Fn>
void eachItem(const At& at, Fn&& fn) {
  if (!at.node.IsSequence()) at.fail("must be a list");
  for (std::size_t i = 0; i < at.node.size(); ++i) {
    const YAML::Node item = at.node[i];
    fn(At{item, at.index(i)});
  }
}

void routesFrom(const At& at, BalancerConfig& cfg) {
  at.requireMap();
  for (const auto& tt : at.node) {
    const auto task_type = at.keyOf(tt.first);
    const At by_priority{tt.second, at.child(task_type)};
    by_priority.requireMap();
    for (const auto& pr : by_priority.node) {
      const auto priority = by_priority.keyOf(pr.first);
      const At route{pr.second, by_priority.child(priority)};
      RouteConfig rc{task_type, priority, {}, std::nullopt};
      if (route.node.IsSequence()) {
        rc.models = route.stringList();
      } else {
        route.allowOnly({"models", "strategy"});
        field(route, "models", [&](const At& m) { rc.models = m.stringList(); });
        if (rc.models.empty()) throw ConfigError(route.child("models"), "is required");
        field(route, "strategy", [&](const At& s) {
          rc.strategy = parseStrategyKind(s.str());
          if (!rc.strategy) s.fail("unknown strategy '" + s.str() + "'");
        });
      }
      cfg.routes.push_back(std::move(rc));
    }
  }
}

}  // namespace

std::string_view toString(Provider provider) {
  return provider == Provider::kAnthropic ? "anthropic" : "openai";
}

bool usesSharedBuckets(const BalancerConfig& config) {
  for (const EndpointConfig& endpoint : config.endpoints) {
    if (endpoint.keys.empty() && endpoint.shared) return true;
    for (const ApiKeyConfig& key : endpoint.keys) {
      if (key.shared.value_or(endpoint.shared)) return true;
    }
  }
  return false;
}

BalancerConfig ConfigLoader::fromYaml(std::string_view yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    throw ConfigError("(document)",
                      "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  const At at{root, ""};
  at.allowOnly({"strategy", "timeout", "retry_count", "fallback_on_failure", "max_attempts",
                "max_queue_wait", "default_max_tokens", "health_check", "circuit_breaker",
                "backoff", "retry_budget", "alerts", "endpoints", "key_sets", "routes", "fallbacks",
                "pricing", "capabilities"});
  BalancerConfig cfg;
  bool max_attempts_set = false;
  field(at, "strategy", [&](const At& a) {
    auto k = parseStrategyKind(a.str());
    if (!k) a.fail("unknown strategy '" + a.str() + "'");
    cfg.strategy = *k;
  });
  field(at, "timeout", [&](const At& a) { cfg.timeout = a.seconds(); });
  field(at, "retry_count", [&](const At& a) { cfg.retry_count = a.count(0); });
  field(at, "fallback_on_failure", [&](const At& a) { cfg.fallback_on_failure = a.boolean(); });
  field(at, "max_attempts", [&](const At& a) {
    cfg.max_attempts = a.count(1);
    max_attempts_set = true;
  });
  if (!max_attempts_set) cfg.max_attempts = 1 + cfg.retry_count;
  field(at, "max_queue_wait", [&](const At& a) { cfg.max_queue_wait = a.seconds(); });
  field(at, "default_max_tokens", [&](const At& a) { cfg.default_max_tokens = a.integer(1); });
  field(at, "health_check", [&](const At& a) {
    a.allowOnly({"enabled", "interval", "path", "timeout", "unhealthy_after", "healthy_after"});
    auto& hc = cfg.health_check;
    field(a, "enabled", [&](const At& b) { hc.enabled = b.boolean(); });
    field(a, "interval", [&](const At& b) { hc.interval = b.seconds(); });
    field(a, "path", [&](const At& b) {
      hc.path = b.nonEmptyStr();
      if (!hc.path.starts_with('/')) b.fail("must start with /");
    });
    field(a, "timeout", [&](const At& b) { hc.timeout = b.seconds(); });
    field(a, "unhealthy_after", [&](const At& b) { hc.unhealthy_after = b.count(1); });
    field(a, "healthy_after", [&](const At& b) { hc.healthy_after = b.count(1); });
  });
  field(at, "circuit_breaker", [&](const At& a) {
    a.allowOnly({"consecutive_failures", "error_rate", "min_requests", "window", "cooldown",
                 "cooldown_multiplier", "max_cooldown", "ramp"});
    auto& b = cfg.breaker;
    field(a, "consecutive_failures", [&](const At& v) { b.consecutive_failures = v.count(1); });
    field(a, "error_rate", [&](const At& v) {
      b.error_rate = v.positive();
      if (b.error_rate > 1) v.fail("must be at most 1");
    });
    field(a, "min_requests", [&](const At& v) { b.min_requests = v.count(1); });
    field(a, "window", [&](const At& v) { b.window = v.seconds(); });
    field(a, "cooldown", [&](const At& v) { b.cooldown = v.seconds(); });
    field(a, "cooldown_multiplier", [&](const At& v) { b.cooldown_multiplier = v.positive(); });
    field(a, "max_cooldown", [&](const At& v) { b.max_cooldown = v.seconds(); });
    field(a, "ramp", [&](const At& v) { b.ramp = v.seconds(); });
  });
  field(at, "backoff", [&](const At& a) {
    a.allowOnly({"base", "cap"});
    field(a, "base", [&](const At& v) { cfg.backoff.base = v.seconds(); });
    field(a, "cap", [&](const At& v) { cfg.backoff.cap = v.seconds(); });
  });
  field(at, "alerts", [&](const At& a) {
    a.allowOnly({"slow_call", "error_rate", "min_calls", "consecutive_failures"});
    field(a, "slow_call", [&](const At& v) { cfg.alerts.slow_call = v.seconds(); });
    field(a, "error_rate", [&](const At& v) {
      cfg.alerts.error_rate = v.positive();
      if (cfg.alerts.error_rate > 1) v.fail("must be at most 1");
    });
    field(a, "min_calls", [&](const At& v) { cfg.alerts.min_calls_for_error_rate = v.count(1); });
    field(a, "consecutive_failures",
          [&](const At& v) { cfg.alerts.consecutive_failures = v.count(1); });
  });
  field(at, "retry_budget", [&](const At& a) {
    a.allowOnly({"ratio", "min_retries", "window"});
    field(a, "ratio", [&](const At& v) { cfg.retry_budget.ratio = v.positive(); });
    field(a, "min_retries", [&](const At& v) { cfg.retry_budget.min_retries = v.count(0); });
    field(a, "window", [&](const At& v) {
      cfg.retry_budget.window_seconds = static_cast<int>(v.integer(1, RetryBudget::kMaxSlots));
    });
  });
  field(at, "endpoints", [&](const At& a) {
    eachItem(a, [&](const At& e) { cfg.endpoints.push_back(endpointFrom(e)); });
  });
  field(at, "key_sets", [&](const At& a) {
    eachItem(a, [&](const At& s) {
      s.allowOnly({"name", "keys"});
      KeySetConfig set;
      field(s, "name", [&](const At& n) { set.name = n.nonEmptyStr(); });
      field(s, "keys", [&](const At& ks) {
        eachItem(ks, [&](const At& k) {
          KeySetConfig::Key key;
          key.key = keyFrom(k, {"endpoint", "alias", "env", "file", "quota_group", "shared"});
          field(k, "endpoint", [&](const At& n) { key.endpoint = n.nonEmptyStr(); });
          if (key.endpoint.empty()) throw ConfigError(k.child("endpoint"), "is required");
          set.keys.push_back(std::move(key));
        });
      });
      if (set.name.empty()) set.name = std::to_string(cfg.key_sets.size());
      cfg.key_sets.push_back(std::move(set));
    });
  });
  field(at, "routes", [&](const At& a) { routesFrom(a, cfg); });
  field(at, "fallbacks", [&](const At& a) {
    a.requireMap();
    for (const auto& kv : a.node) {
      const auto model = a.keyOf(kv.first);
      cfg.fallbacks[model] = At{kv.second, a.child(model)}.stringList();
    }
  });
  field(at, "pricing", [&](const At& a) {
    a.requireMap();
    for (const auto& kv : a.node) {
      const auto model = a.keyOf(kv.first);
      const At p{kv.second, a.child(model)};
      p.allowOnly({"input", "output"});
      PriceConfig price;
      field(p, "input", [&](const At& v) {
        price.input_per_mtok = v.number();
        if (price.input_per_mtok < 0) v.fail("must not be negative");
      });
      field(p, "output", [&](const At& v) {
        price.output_per_mtok = v.number();
        if (price.output_per_mtok < 0) v.fail("must not be negative");
      });
      cfg.pricing[model] = price;
    }
  });
  field(at, "capabilities", [&](const At& a) {
    a.requireMap();
    for (const auto& kv : a.node) {
      const auto model = a.keyOf(kv.first);
      const At m{kv.second, a.child(model)};
      m.allowOnly({"context_window", "typical_latency"});
      ModelCapability cap;
      field(m, "context_window", [&](const At& v) { cap.context_window = v.integer(1); });
      field(m, "typical_latency", [&](const At& v) { cap.typical_latency = v.seconds(); });
      cfg.capabilities[model] = cap;
    }
  });
  validate(cfg);
  return cfg;
}

}  // namespace celeriac::balancer
