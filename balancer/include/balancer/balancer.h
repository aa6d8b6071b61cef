#pragma once
// Balancer: one asynchronous chat call over many endpoints, keys and models.
//
// For: `submit(request, callback)`: resolve the request's route (or model + fallbacks)
// into an ordered model chain; walk it, skipping candidates whose breaker is open, whose
// key is invalid or paused, whose buckets are empty, or whose retry budget is spent (each
// skip recorded in the trace); pick among the rest with the strategy; reserve RPM+TPM;
// send through HttpTransport; classify the outcome once (FailureClass) and act on it;
// wait for capacity with Dispatcher timers in a priority queue (no polling); answer once.
// Not for: I/O (HttpTransport), time (Dispatcher::clock), logging (read stats()), or
// shared Redis buckets (SharedBucketStore, wired by the worker later).
//
// Threading and ownership: lives on the loop that runs `dispatcher`; every method and
// callback runs there. The Balancer borrows the dispatcher and transport (they must
// outlive it) and owns all call state. Destroying it cancels in-flight HTTP requests;
// their late completions are ignored and pending callbacks are never invoked.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "balancer/admission_control.h"
#include "balancer/backoff.h"
#include "balancer/call_result.h"
#include "balancer/chat_request.h"
#include "balancer/circuit_breaker.h"
#include "balancer/config.h"
#include "balancer/dispatcher.h"
#include "balancer/http_transport.h"
#include "balancer/peak_ewma.h"
#include "balancer/retry_budget.h"
#include "balancer/strategy.h"
#include "balancer/target_stats.h"

namespace celeriac::balancer {

using CallId = std::uint64_t;

class Balancer {
 public:
  using Callback = std::function<void(CallResult)>;

  // `resolve_secret` is called only here; key values are kept in memory and put in
  // request headers, never in errors, traces or stats.
  // Throws ConfigError if the config is invalid or a key's secret cannot be resolved (the
  // message names the key alias and where it was looked for, never a value).
  Balancer(BalancerConfig config, Dispatcher& dispatcher, HttpTransport& transport,
           const SecretResolver& resolve_secret, std::uint64_t seed = 0x5eed);
  ~Balancer();
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // Starts a call. `done` fires exactly once, on the loop, never inside submit() or
  // cancel(), unless the Balancer is destroyed first (then never).
  CallId submit(ChatRequest request, Callback done);

  // Cancels a call still running: `done` fires later with kCancelled. No-op otherwise.
  void cancel(CallId id);

  [[nodiscard]] std::size_t callsInFlight() const { return calls_.size(); }

  // Stats JSON: strategy, totals, success rate, and per endpoint x model: requests,
  // success, failures by class, p50/p95/p99, tokens, cost, breaker state, in flight,
  // bucket levels and pauses per key.
  [[nodiscard]] nlohmann::json stats();

 private:
  struct KeyState {
    std::string alias;
    std::string secret;
    std::string pool;  // bucket/pause pool: the quota group, else the alias
    bool invalid = false;
  };
  struct Target {  // one (endpoint, model)
    CircuitBreaker breaker;
    PeakEwma latency;
    TargetStats stats;
    std::uint32_t in_flight = 0;
  };
  struct EndpointState {
    EndpointConfig config;
    std::vector<KeyState> keys;  // empty: keyless (one implicit pool named after endpoint)
    RetryBudget budget;
    std::size_t key_cursor = 0;
    std::map<std::string, Target, std::less<>> targets;
  };
  struct Call;
  struct WaitKey {
    SteadyTime wake;
    int neg_priority;
    std::uint64_t seq;
    CallId id;
    auto operator<=>(const WaitKey&) const = default;
  };

  Target& target(std::size_t endpoint, std::string_view model);
  Strategy& strategyFor(const Call& call, std::string_view model);
  void step(CallId id);
  bool tryStart(Call& call, SteadyTime& earliest);
  void onResponse(CallId id, HttpResponse response);
  void finish(CallId id, std::variant<CallSuccess, CallFailure> outcome);
  void failLater(CallId id, CallFailure failure);
  void enqueueWait(Call& call, SteadyTime wake, std::string reason);
  void armWaitTimer();
  void onWaitTimer();
  [[nodiscard]] double blendedPrice(std::string_view model) const;
  [[nodiscard]] std::chrono::microseconds sinceSubmit(const Call& call) const;

  BalancerConfig config_;
  Dispatcher& dispatcher_;
  HttpTransport& transport_;
  std::uint64_t seed_;
  std::vector<EndpointState> endpoints_;
  AdmissionControl admission_;
  Backoff backoff_;
  std::map<std::string, std::unique_ptr<Strategy>, std::less<>> strategies_;
  std::unordered_map<CallId, std::unique_ptr<Call>> calls_;
  CallId next_id_ = 1;
  std::set<WaitKey> waiting_;
  std::uint64_t wait_seq_ = 0;
  TimerId wait_timer_ = 0;
  SteadyTime wait_timer_at_{};
  std::int64_t total_requests_ = 0, total_success_ = 0, total_failures_ = 0;
  // Lambdas handed to the transport/dispatcher hold a weak_ptr to this: after the
  // Balancer dies they find it expired and do nothing.
  std::shared_ptr<Balancer*> alive_;
};

}  // namespace celeriac::balancer
