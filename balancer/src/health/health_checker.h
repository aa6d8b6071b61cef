#pragma once
// HealthChecker: active probes of every endpoint at an interval (GET {base_url}/models or
// the configured path), so that a dead endpoint is skipped before a real call finds out.
//
// For: the Balancer's "is this endpoint up?" beside its breakers. Each round sends one
// probe per endpoint through the HttpTransport; a probe fails on a transport error
// (refused, timeout, reset) or a 5xx, and succeeds on any other answer (a 401/404/429
// still proves the server is up; keys and limits are judged by real calls).
//
//   HEALTHY --unhealthy_after failures in a row--> UNHEALTHY
//      ^                                               |
//      +------healthy_after successes in a row---------+
//
// Endpoints start healthy, so start-up never waits for a first round. A probe still out
// when the next round comes is not doubled (its timeout is capped at the interval).
// Not for: per-model health (CircuitBreaker) or deciding what to do with an unhealthy
// endpoint (the Balancer skips it with reason "unhealthy").
//
// Lives on the dispatcher's loop; borrows the dispatcher and transport, which must
// outlive it. Destroying it cancels the timer and in-flight probes; their completions
// are then ignored.

#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "balancer/config.h"
#include "balancer/http_transport.h"
#include "common/dispatcher.h"
#include "common/lifetime_token.h"

namespace celeriac::balancer {

class HealthChecker {
 public:
  // `probes[i]` is the ready-made request for endpoint i (URL, auth headers).
  HealthChecker(HealthCheckConfig config, Dispatcher& dispatcher, HttpTransport& transport,
                std::vector<HttpRequest> probes);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Sends the first round on a later loop turn, then one round every interval.
  void start();

  [[nodiscard]] bool healthy(std::size_t endpoint) const { return state_.at(endpoint).healthy; }
  // When the next round goes out (a skipped endpoint may be back by then).
  [[nodiscard]] SteadyTime nextRoundAt() const { return next_round_; }

  // {"healthy", "probes", "probe_failures", "consecutive_failures"} of endpoint i.
  [[nodiscard]] nlohmann::json stats(std::size_t endpoint) const;

 private:
  struct State {
    bool healthy = true;
    int failures_in_row = 0;
    int successes_in_row = 0;
    std::int64_t probes = 0;
    std::int64_t failures = 0;
    std::optional<HttpRequestId> in_flight;
  };
  void round();
  void onProbe(std::size_t endpoint, const HttpResponse& response);

  HealthCheckConfig config_;
  Dispatcher& dispatcher_;
  HttpTransport& transport_;
  std::vector<HttpRequest> probes_;
  std::vector<State> state_;
  TimerId timer_ = 0;
  SteadyTime next_round_{};
  LifetimeToken lifetime_;  // guards the timer and probe callbacks
};

}  // namespace celeriac::balancer
