#pragma once
// Balancer::Call: the state of one submitted call (internal to the balancer's .cc files).
// Owned by Balancer::calls_; lives from submit() until its callback has run.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "balancer/balancer.h"

namespace celeriac::balancer {

struct Balancer::Call {
  CallId id = 0;
  ChatRequest request;
  Callback done;
  std::vector<std::string> chain;
  std::optional<StrategyKind> strategy;  // the route's, else the global one
  SteadyTime submitted{};
  SteadyTime deadline{};
  std::int64_t prompt_tokens = 0;
  int attempts = 0;
  std::map<std::pair<std::size_t, std::string>, int> tries;              // per target
  std::map<std::pair<std::size_t, std::string>, SteadyTime> not_before;  // backoff
  std::vector<TraceEntry> trace;
  FailureClass last_failure = FailureClass::kNone;
  std::string last_message;
  bool cancelled = false;
  bool waiting = false;
  WaitKey wait_key{};
  // The attempt in flight.
  std::optional<HttpRequestId> http;
  std::size_t endpoint = 0;
  std::size_t key = 0;
  std::string model;
  std::optional<Reservation> reservation;
  bool remote_reservation = false;         // taken from the SharedBucketStore
  std::optional<std::uint64_t> reserving;  // a shared reserve awaiting its answer
  bool trial = false;                      // holds the breaker's half-open trial slot
  SteadyTime started{};
};

}  // namespace celeriac::balancer
