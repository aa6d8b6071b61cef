#include "balancer/config_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "common/yaml_to_json.h"
#include "config/config_schema.h"
#include "config/config_yaml.h"
#include "routing/strategy.h"

namespace celeriac::balancer {
namespace {

using config_yaml::At;
using config_yaml::endpointFrom;
using config_yaml::field;
using config_yaml::keyFrom;

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

// The fields of a document that conforms to the schema, with what a schema cannot say
// (a known strategy, durations in range, ...). Throws ConfigError at the first bad field.
BalancerConfig walk(const YAML::Node& root) {
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
      cfg.retry_budget.window_seconds =
          static_cast<int>(v.integer(1, RetryBudgetOptions::kMaxWindowSeconds));
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
  return cfg;
}

}  // namespace

std::string_view toString(Provider provider) {
  return provider == Provider::kAnthropic ? "anthropic" : "openai";
}

bool serves(const EndpointConfig& endpoint, std::string_view model) {
  return std::any_of(endpoint.models.begin(), endpoint.models.end(),
                     [&](const std::string& m) { return m == "*" || m == model; });
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

common::Result<BalancerConfig> ConfigLoader::fromYaml(std::string_view yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return configError("(document)",
                       "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  // Every key and value against schemas/balancer_config.schema.json first: its errors
  // name the path and what was expected. What follows reads the (now well-formed) tree
  // and checks what a schema cannot say.
  const auto doc = yamlToJson(root);  // its Errors name the path as ours do
  if (!doc) return doc.error();
  if (auto conforms = config_schema::enforce(*doc); !conforms) return conforms.error();
  BalancerConfig cfg;
  try {
    cfg = walk(root);
  } catch (const ConfigError& e) {  // the walk's first bad field (config_error.h)
    return common::Error{e.what()};
  }
  if (auto valid = validate(cfg); !valid) return valid.error();
  return cfg;
}

}  // namespace celeriac::balancer
