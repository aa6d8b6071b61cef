#pragma once
// Balancer::Impl: the Balancer's state and the steps of its call loop, behind the public
// class in balancer/balancer.h (which holds only a pointer to it, so that the parts'
// headers, breakers, buckets, strategies, stay private to the library).
//
// For: the balancer's core/ .cc files (balancer*.cc; balancer.cc has the map of which file
// does what). The contracts are those of Balancer in balancer.h; Balancer forwards each
// public call here. Ownership and threading as there: owned by the Balancer, loop thread.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "admission/admission_control.h"
#include "admission/shared_admission.h"
#include "balancer/balancer.h"
#include "common/lifetime_token.h"
#include "common/result.h"
#include "common/rng.h"
#include "core/wait_queue.h"
#include "health/backoff.h"
#include "health/circuit_breaker.h"
#include "health/peak_ewma.h"
#include "health/retry_budget.h"
#include "health/target_stats.h"
#include "routing/strategy.h"

namespace celeriac::balancer {

class ApiRequest;     // the API one call speaks (core/api_request.h)
class HealthChecker;  // probes endpoints (health/health_checker.h)

class Balancer::Impl {
 public:
  using Callback = Balancer::Callback;
  using AttemptObserver = Balancer::AttemptObserver;

  Impl(BalancerConfig config, Dispatcher& dispatcher, HttpTransport& transport,
       const SecretResolver& resolve_secret, std::uint64_t seed, SharedBucketStore* shared_store);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  CallId submit(ChatRequest request, Callback done);
  CallId submit(EmbeddingRequest request, Callback done);
  void cancel(CallId id);
  [[nodiscard]] std::size_t callsInFlight() const { return calls_.size(); }
  void setAttemptObserver(AttemptObserver observer) { attempt_observer_ = std::move(observer); }
  [[nodiscard]] nlohmann::json stats();

 private:
  struct KeyState {
    std::string alias;
    std::string secret;
    std::string pool;  // bucket/pause pool: the quota group, else the alias
    bool invalid = false;
    bool shared = false;  // admission through the SharedBucketStore
  };
  struct Target {  // one (endpoint, model)
    CircuitBreaker breaker;
    PeakEwma latency;
    TargetStats stats;
    std::uint32_t in_flight = 0;
    // The admission state of (key's pool, model) for each of the endpoint's keys, by key
    // index: looked up once here, so a pick does not hash strings per endpoint and key.
    std::vector<AdmissionControl::Entry*> admission = {};
  };
  struct EndpointState {
    EndpointConfig config;
    std::vector<KeyState> keys;  // empty: keyless (one implicit pool named after endpoint)
    RetryBudget budget;
    std::size_t key_cursor = 0;
    std::map<std::string, Target, std::less<>> targets;
  };
  // What a pick needs to know of one model, looked up once instead of per endpoint (the
  // config is fixed, so who serves the model never changes).
  struct ModelRow {
    std::vector<std::size_t> endpoints;  // the endpoints serving the model, in order
    std::vector<Target*> targets;        // by position in `endpoints`; null until used
  };
  struct Call;
  using KeyCheck = SharedAdmission::Check;  // may this key take the call now?

  Target& target(std::size_t endpoint, std::string_view model);
  ModelRow& modelRow(std::string_view model);
  Strategy& strategyFor(const Call& call, std::string_view model);
  CallId start(ApiRequest request, Callback done);
  // An Error saying why no endpoint can ever take the call's chain for its API.
  [[nodiscard]] common::Result<void> checkServed(const Call& call) const;
  void step(CallId id);
  // One walk of the chain; `honor_latency` false also takes candidates that are over the
  // call's max_latency. tryStartAny: a walk honouring it, then one that does not when
  // only slow candidates were left out.
  bool tryStart(Call& call, SteadyTime& earliest, bool honor_latency);
  bool tryStartAny(Call& call, SteadyTime& earliest);
  // Filters (balancer_pick.cc). excludedBy: why the call must never go to `model` at
  // `endpoint` (its context window or price), empty if it may. A trace reason, not an
  // error: a constant, so a walk over candidates allocates nothing.
  [[nodiscard]] std::string_view excludedBy(const Call& call, const EndpointState& endpoint,
                                            const std::string& model) const;
  [[nodiscard]] bool tooSlow(const Call& call, const Target& target,
                             const std::string& model) const;
  // An Error saying why no model of the chain can ever meet the call's constraints.
  [[nodiscard]] common::Result<void> checkConstraints(const Call& call) const;
  bool launch(Call& call, std::size_t endpoint, std::size_t key, const std::string& model,
              Reservation reservation, bool remote);
  void onResponse(CallId id, HttpResponse response);
  // Shared keys (balancer_shared.cc): the loop's side of SharedAdmission.
  [[nodiscard]] bool usesStore(const KeyState& key, std::string_view model) const;
  // `pair` is the key's admission state for `model` (Target::admission).
  KeyCheck checkKey(const KeyState& key, AdmissionControl::Entry& pair, std::string_view model,
                    double tokens, SteadyTime now);
  void reserveShared(Call& call, std::size_t endpoint, std::size_t key, const std::string& model,
                     double tokens);
  void onSharedAnswer(CallId id, std::size_t endpoint, std::size_t key, const std::string& model,
                      SharedAdmission::Answer answer);
  // Settling a call that went out: the local buckets always (for a shared key they hold
  // the mirror of its grant), the store too when the grant came from it.
  void releaseReservation(const Reservation& reservation, bool remote);
  void reconcileReservation(const Reservation& reservation, bool remote,
                            std::optional<double> actual_tokens);
  [[nodiscard]] nlohmann::json sharedStats() const;
  void finish(CallId id, std::variant<CallSuccess, CallFailure> outcome);
  void failLater(CallId id, CallFailure failure);
  // The wait queue (balancer_queue.cc, over WaitQueue).
  void enqueueWait(Call& call, SteadyTime wake, std::string reason);
  void onWake(CallId id);
  // Capacity may have come back early (a refund, a closed breaker): the first waiter by
  // priority tries at once, quietly (no trace unless it starts); else it keeps its place.
  void offerCapacityToFirstWaiter();
  [[nodiscard]] double blendedPrice(std::string_view model) const;
  [[nodiscard]] std::chrono::microseconds sinceSubmit(const Call& call) const;

  BalancerConfig config_;
  Dispatcher& dispatcher_;
  HttpTransport& transport_;
  std::uint64_t seed_;
  std::vector<EndpointState> endpoints_;
  AdmissionControl admission_;
  Backoff backoff_;
  Rng ramp_rng_;            // draws which ramping candidates take part in a pick
  SharedAdmission shared_;  // of keys shared by replicas; uses admission_ for their share
  std::map<std::string, std::unique_ptr<Strategy>, std::less<>> strategies_;
  std::map<std::string, ModelRow, std::less<>> model_rows_;
  std::unordered_map<CallId, std::unique_ptr<Call>> calls_;
  CallId next_id_ = 1;
  WaitQueue waits_;  // the calls waiting for capacity
  std::int64_t total_requests_ = 0, total_success_ = 0, total_failures_ = 0;
  // Lambdas handed to the transport/dispatcher/store are guarded by it: after the
  // Balancer dies they find it gone and do nothing.
  LifetimeToken lifetime_;
  std::unique_ptr<HealthChecker> health_;  // set iff health_check.enabled
  AttemptObserver attempt_observer_;
};

}  // namespace celeriac::balancer
