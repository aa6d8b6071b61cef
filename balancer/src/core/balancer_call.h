#pragma once
// Call: the state of one submitted call (internal to the balancer). Owned by
// Balancer::Impl::calls_; lives from submit() until its callback has run. The Picker
// reads it and records its skips in it.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "admission/admission_control.h"
#include "balancer/balancer.h"
#include "core/api_request.h"
#include "core/wait_queue.h"

namespace celeriac::balancer {

struct Call {
  explicit Call(ApiRequest r) : request(std::move(r)) {}

  CallId id = 0;
  ApiRequest request;  // chat or embeddings; the loop asks it what differs per API
  Balancer::Callback done;
  std::vector<std::string> chain;
  std::optional<StrategyKind> strategy;  // the route's, else the global one
  SteadyTime submitted{};
  SteadyTime deadline{};
  int attempts = 0;
  std::map<std::pair<std::size_t, std::string>, int> tries;              // per target
  std::map<std::pair<std::size_t, std::string>, SteadyTime> not_before;  // backoff
  std::vector<TraceEntry> trace;
  FailureClass last_failure = FailureClass::kNone;
  std::string last_message;
  bool cancelled = false;
  bool waiting = false;  // in the wait queue, at `wait_place`
  WaitQueue::Place wait_place{};
  // The attempt in flight.
  std::optional<HttpRequestId> http;
  std::size_t endpoint = 0;
  std::size_t key = 0;
  std::string model;
  std::optional<Reservation> reservation;
  bool remote_reservation = false;         // taken from the SharedBucketStore
  std::optional<std::uint64_t> reserving;  // a shared reserve awaiting its answer
  bool trial = false;                      // holds the breaker's half-open trial slot
  bool quiet = false;         // a walk offered capacity early records no skips (see offer...)
  bool slow_skipped = false;  // the last walk left out candidates over max_latency
  SteadyTime started{};
  // Balancer overhead of the attempt in flight (AttemptRecord::overhead): when the
  // current walk over candidates began, and the time from then to handing the request
  // to the transport (pick, admission, encoding).
  SteadyTime walk_started{};
  std::chrono::nanoseconds send_overhead{0};

  // Appends `entry` to the trace; a skip or a wait equal to one already there (kind,
  // endpoint, model, key, reason) counts as a repeat of that one instead. Without this a
  // call waiting out an outage grew by an entry per candidate at every wake-up (heaptrack:
  // about 41 KB a call after some 240 wake-ups under mass attempt timeouts).
  void record(TraceEntry entry) {
    if (entry.kind != TraceEntry::Kind::kAttempt) {
      for (TraceEntry& seen : trace) {
        if (seen.kind == entry.kind && seen.endpoint == entry.endpoint &&
            seen.model == entry.model && seen.key_alias == entry.key_alias &&
            seen.reason == entry.reason) {
          ++seen.repeats;
          return;
        }
      }
    }
    trace.push_back(std::move(entry));
  }

  // A candidate left out: `reason` for `skipped_model` on `skipped_endpoint` (and
  // `key_alias`, if a key was the reason), `at` after submit. Through record(), so
  // repeats count.
  void recordSkip(std::chrono::microseconds at, std::string skipped_endpoint,
                  std::string skipped_model, std::string key_alias, std::string reason) {
    record({TraceEntry::Kind::kSkipped,
            at,
            std::move(skipped_endpoint),
            std::move(skipped_model),
            std::move(key_alias),
            std::move(reason),
            FailureClass::kNone,
            0,
            {},
            0});
  }
};

}  // namespace celeriac::balancer
