#pragma once
// BalancerConfig: everything the balancer is told at start-up, as plain values.
//
// For: the validated result of loading YAML or the environment (ConfigLoader), handed to
// the Balancer. Holds no secrets: an API key is a SecretRef (which env var or file holds
// it); the caller resolves it. Not for: runtime state (breakers, buckets, stats).
// Immutable after load; copyable.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace celeriac::balancer {

// How a pick chooses among a model's candidates (routing/: one strategy each).
enum class StrategyKind { kRoundRobin, kWeighted, kLeastConnections, kRandom, kLatency, kCost };

// Limits per minute of one (key or quota group, model); 0 means unlimited
// (admission/: a sliding window for rpm, a token bucket for tpm).
struct RateLimits {
  std::int64_t rpm = 0;
  std::int64_t tpm = 0;
};

// The options of the parts the Balancer builds from this config (health/).
struct CircuitBreakerOptions {
  int consecutive_failures = 3;  // seed: 3 consecutive failures open it
  double error_rate = 0.5;       // ... or this share of failures in the window
  int min_requests = 20;         // ... over at least this many requests
  std::chrono::milliseconds window{30'000};
  std::chrono::milliseconds cooldown{60'000};  // seed: open for 60 s
  double cooldown_multiplier = 2.0;
  std::chrono::milliseconds max_cooldown{600'000};
  std::chrono::milliseconds ramp{30'000};  // load share climbs linearly back to 100 %
};

struct BackoffOptions {
  std::chrono::milliseconds base{2'000};
  std::chrono::milliseconds cap{10'000};
};

struct RetryBudgetOptions {
  static constexpr int kMaxWindowSeconds = 60;  // the budget keeps one slot per second
  double ratio = 0.2;                           // retries <= 20 % of recent requests
  int min_retries = 3;                          // per window, whatever the traffic
  int window_seconds = 10;                      // 1 .. kMaxWindowSeconds
};

// When the stats raise an alert for one (endpoint, model) (the seed's monitoring: a
// call over 5000 ms, an error rate over 5 %, 3 consecutive failures).
struct AlertOptions {
  std::chrono::milliseconds slow_call{5'000};
  double error_rate = 0.05;           // of the recent calls (the sample ring)
  int min_calls_for_error_rate = 20;  // fewer recent calls never raise error_rate
  int consecutive_failures = 3;
};

enum class Provider { kOpenAi, kAnthropic };

[[nodiscard]] std::string_view toString(Provider provider);

// Where an API key lives. Exactly one of `env` / `file` is set. `list_index` picks the
// n-th item of a comma-separated variable (the seed's LLM_API_KEYS matched by position).
struct SecretRef {
  std::string env;
  std::string file;
  std::optional<std::size_t> list_index;
};

// Returns the secret a SecretRef points to, or nullopt if it cannot be read. Supplied by
// the caller (pure code reads no environment and no files).
using SecretResolver = std::function<std::optional<std::string>(const SecretRef&)>;

struct ApiKeyConfig {
  std::string alias;  // how stats, traces and errors name the key; never the value
  SecretRef secret;
  std::string quota_group;     // overrides the endpoint's; keys in one group pace together
  std::optional<bool> shared;  // overrides the endpoint's `shared`
};

struct EndpointConfig {
  std::string name;
  std::string base_url;  // e.g. https://api.openai.com/v1 (no trailing slash)
  Provider provider = Provider::kOpenAi;
  std::vector<std::string> models;  // "*" serves any model asked for
  double weight = 1;
  std::optional<std::int64_t> max_tokens;  // applied to requests that set none
  std::optional<double> temperature;
  std::map<std::string, RateLimits> limits;  // per model, per key (or quota group)
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{60'000};
  std::string quota_group;
  // Keys used by several replicas at once: admission goes through the SharedBucketStore
  // (Redis) with the full limits; if it is unavailable, local buckets sized to this
  // replica's share (limit / replicas, at least 1) take over.
  bool shared = false;
  std::int64_t replicas = 1;
  std::vector<ApiKeyConfig> keys;  // may be empty (keyless local vLLM)
  // How the worker's transport reaches the endpoint (its own connection pool).
  // http2 true: HTTP/2 only (prior knowledge on http://, ALPN on https://); false:
  // HTTP/1.1 only; unset: HTTP/2 where TLS ALPN offers it, else HTTP/1.1 keep-alive.
  std::optional<bool> http2{};
  std::int64_t max_connections = 0;             // open at once to the host; 0 = no limit
  std::int64_t max_streams_per_connection = 0;  // HTTP/2 streams; 0 = curl's default (100)
};

// A named set of keys for one replica: INSTANCE_ID (or the pod ordinal) chooses one.
struct KeySetConfig {
  struct Key {
    std::string endpoint;
    ApiKeyConfig key;
  };
  std::string name;
  std::vector<Key> keys;
};

struct RouteConfig {
  std::string task_type;            // simple_qa, code_generation, complex_reasoning, general, ...
  std::string priority;             // fast, normal, high
  std::vector<std::string> models;  // ordered: first is preferred
  std::optional<StrategyKind> strategy;
};

struct PriceConfig {
  double input_per_mtok = 0;   // USD per 1M input tokens
  double output_per_mtok = 0;  // USD per 1M output tokens
};

// What a model can do, for routing by request context (RoutingConstraints).
struct ModelCapability {
  std::int64_t context_window = 0;                           // tokens; 0 = unknown (never excludes)
  std::optional<std::chrono::milliseconds> typical_latency;  // before any observed sample
};

struct HealthCheckConfig {
  bool enabled = false;
  std::chrono::milliseconds interval{30'000};
  std::string path = "/models";              // appended to each endpoint's base URL, sent as GET
  std::chrono::milliseconds timeout{5'000};  // per probe (capped at the interval)
  int unhealthy_after = 3;  // consecutive failed probes before skipping the endpoint
  int healthy_after = 2;    // consecutive good probes before using it again
};

struct BalancerConfig {
  StrategyKind strategy = StrategyKind::kWeighted;
  std::chrono::milliseconds timeout{60'000};  // default deadline of one call
  int retry_count = 2;
  bool fallback_on_failure = true;
  int max_attempts = 3;  // cap across retries x fallbacks x keys (default 1 + retry_count)
  std::chrono::milliseconds max_queue_wait{10'000};  // longest wait for capacity
  std::int64_t default_max_tokens = 1024;  // estimate when neither request nor endpoint say
  HealthCheckConfig health_check;
  CircuitBreakerOptions breaker;
  BackoffOptions backoff;
  RetryBudgetOptions retry_budget;
  AlertOptions alerts;
  std::vector<EndpointConfig> endpoints;
  std::vector<KeySetConfig> key_sets;
  std::vector<RouteConfig> routes;
  std::map<std::string, std::vector<std::string>> fallbacks;  // model -> next models
  std::map<std::string, PriceConfig> pricing;
  std::map<std::string, ModelCapability> capabilities;  // per model
};

// Does `endpoint` serve `model` ("*" serves any)?
[[nodiscard]] bool serves(const EndpointConfig& endpoint, std::string_view model);

// Does any key (after its endpoint's default) go through the SharedBucketStore? A
// caller creates the store (a Redis connection) only then.
[[nodiscard]] bool usesSharedBuckets(const BalancerConfig& config);

}  // namespace celeriac::balancer
