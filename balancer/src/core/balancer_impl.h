#pragma once
// Balancer::Impl: the Balancer's parts and the steps of its call loop, behind the public
// class in balancer/balancer.h (which holds only a pointer to it, so that the parts'
// headers, breakers, buckets, strategies, stay private to the library). The parts:
// AdmissionControl and SharedAdmission (admission/), Endpoints and WaitQueue (core/),
// Picker (routing/), Backoff and HealthChecker (health/); the steps here only join them.
//
// For: the balancer's core/ .cc files (balancer*.cc; balancer.cc has the map of which file
// does what). The contracts are those of Balancer in balancer.h; Balancer forwards each
// public call here. Ownership and threading as there: owned by the Balancer, loop thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "admission/admission_control.h"
#include "admission/shared_admission.h"
#include "balancer/balancer.h"
#include "common/lifetime_token.h"
#include "core/endpoints.h"
#include "core/wait_queue.h"
#include "health/backoff.h"
#include "routing/picker.h"

namespace celeriac::balancer {

class ApiRequest;     // the API one call speaks (core/api_request.h)
class HealthChecker;  // probes endpoints (health/health_checker.h)
struct Call;          // one call's state (core/balancer_call.h)

class Balancer::Impl {
 public:
  using Callback = Balancer::Callback;
  using AttemptObserver = Balancer::AttemptObserver;

  // `config` valid and `secrets[e][k]` the secret of endpoint e's key k (Balancer::create).
  Impl(BalancerConfig config, std::vector<std::vector<std::string>> secrets, Dispatcher& dispatcher,
       HttpTransport& transport, std::uint64_t seed, SharedBucketStore* shared_store);
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
  CallId start(ApiRequest request, Callback done);
  void step(CallId id);
  // One walk of the chain; `honor_latency` false also takes candidates that are over the
  // call's max_latency. tryStartAny: a walk honouring it, then one that does not when
  // only slow candidates were left out.
  bool tryStart(Call& call, SteadyTime& earliest, bool honor_latency);
  bool tryStartAny(Call& call, SteadyTime& earliest);
  bool launch(Call& call, std::size_t endpoint, std::size_t key, const std::string& model,
              Reservation reservation, bool remote);
  void onResponse(CallId id, HttpResponse response);
  // Shared keys (balancer_shared.cc): the loop's side of SharedAdmission.
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
  [[nodiscard]] std::chrono::microseconds sinceSubmit(const Call& call) const;

  // The parts, in the order they are made (each uses only those above it).
  BalancerConfig config_;
  Dispatcher& dispatcher_;
  HttpTransport& transport_;
  AdmissionControl admission_;  // every (pool, model)'s window, bucket and pause
  Endpoints endpoints_;         // endpoints, keys and (endpoint, model) targets
  SharedAdmission shared_;      // of keys shared by replicas; uses admission_ for their share
  Backoff backoff_;
  WaitQueue waits_;                        // the calls waiting for capacity
  std::unique_ptr<HealthChecker> health_;  // set iff health_check.enabled
  // Made last in the constructor, once the endpoints and the health checker exist.
  std::optional<Picker> picker_;
  std::unordered_map<CallId, std::unique_ptr<Call>> calls_;
  CallId next_id_ = 1;
  std::int64_t total_requests_ = 0, total_success_ = 0, total_failures_ = 0;
  AttemptObserver attempt_observer_;
  // Lambdas handed to the transport and the dispatcher are guarded by it: after the
  // Balancer dies they find it gone and do nothing. (Those handed to the parts, WaitQueue
  // and SharedAdmission, need no guard: the parts die with the Balancer, and each revokes
  // its own callbacks and timers.)
  LifetimeToken lifetime_;
};

}  // namespace celeriac::balancer
