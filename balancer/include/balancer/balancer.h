#pragma once
// Balancer: one asynchronous chat or embeddings call over many endpoints, keys and models.
//
// For: `submit(request, callback)`: resolve the request's route (or model + fallbacks)
// into an ordered model chain; walk it, skipping candidates whose breaker is open, whose
// key is invalid or paused, whose buckets are empty, or whose retry budget is spent (each
// skip recorded in the trace); pick among the rest with the strategy; reserve RPM+TPM;
// send through HttpTransport; classify the outcome once (FailureClass) and act on it;
// wait for capacity with Dispatcher timers in a priority queue (no polling); answer once.
// Chat (ChatRequest) and embeddings (EmbeddingRequest) calls share all of it; only the
// request's API differs (reservation: prompt + max_tokens for chat, input tokens for
// embeddings; body and reply through the provider's codec). Endpoints whose provider
// has no embeddings API (Anthropic) are skipped for embeddings ("embeddings_unsupported").
// Shared keys (`shared: true`): admission is an asynchronous all-or-none reserve in the
// SharedBucketStore (full limits, all replicas together) instead of the local buckets:
//
//   pick --reserve()--> kReserved    --> send (settled later through adjust())
//                   \-> kRefused     --> skip that key until retry_after, next candidate
//                   \                    or wait in the queue (no polling)
//                    \-> kUnavailable --> hold the shared keys for one window (other
//                                         replicas' grants in it are unknown here), then
//                                         local buckets sized to limit / replicas; counted
//                                         in stats()["shared_buckets"]
//
// Switching between the two without exceeding the limit in the minute that straddles it:
// every store grant is also recorded in the local share, so a replica that falls back
// already counts its own recent sends; and the sends made on the local share are written
// into the store's window when it answers again (before this replica's next reserve, and
// on a 1 s timer even when idle). What remains: a Redis that restarts EMPTY forgets the
// last minute's grants, and a replica that reconnects later than another one counts its
// local sends only from then (at most its share, for those seconds).
//
// Not for: I/O (HttpTransport, SharedBucketStore), time (Dispatcher::clock), or logging
// (read stats()).
//
// Threading and ownership: lives on the loop that runs `dispatcher`; every method and
// callback runs there. The Balancer borrows the dispatcher and transport (they must
// outlive it), and the optional SharedBucketStore likewise, and owns all call state.
// Destroying it cancels in-flight HTTP requests; their late completions (and late shared
// reserve answers) are ignored and pending callbacks are never invoked.

#include <cstdint>
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "balancer/attempt_record.h"
#include "balancer/call_result.h"
#include "balancer/chat_request.h"
#include "balancer/config.h"
#include "balancer/embedding_request.h"
#include "balancer/http_transport.h"
#include "balancer/shared_bucket_store.h"
#include "common/dispatcher.h"
#include "common/result.h"

namespace celeriac::balancer {

using CallId = std::uint64_t;

class Balancer {
 public:
  using Callback = std::function<void(CallResult)>;

  // A Balancer for `config`, or an Error saying why it cannot run: the config is invalid
  // (ConfigLoader::validate) or a key's secret cannot be resolved (the message names the
  // key alias and where it was looked for, never a value).
  // `resolve_secret` is called only here; key values are kept in memory and put in
  // request headers, never in errors, traces or stats.
  // `shared_store` (borrowed, may be null) serves the keys configured `shared: true`;
  // without it those keys use local buckets sized to their share.
  [[nodiscard]] static common::Result<std::unique_ptr<Balancer>> create(
      BalancerConfig config, Dispatcher& dispatcher, HttpTransport& transport,
      const SecretResolver& resolve_secret, std::uint64_t seed = 0x5eed,
      SharedBucketStore* shared_store = nullptr);
  ~Balancer();
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // Starts a call. `done` fires exactly once, on the loop, never inside submit() or
  // cancel(), unless the Balancer is destroyed first (then never). When no call waits
  // for capacity, the first attempt is sent (or its shared reserve asked) inside submit().
  CallId submit(ChatRequest request, Callback done);

  // Starts an embeddings call, routed like a chat call (route or model + fallbacks, the
  // same strategies, buckets, breakers, retries and trace); same contract as above. On
  // success CallSuccess::vectors holds one vector per input, in input order, and `usage`
  // the input tokens. Fails with kCallerError (on a later loop turn) if the input is
  // empty or no endpoint serving the chain's models has an embeddings API.
  CallId submit(EmbeddingRequest request, Callback done);

  // Cancels a call still running: `done` fires later with kCancelled. No-op otherwise.
  void cancel(CallId id);

  [[nodiscard]] std::size_t callsInFlight() const;

  // Told about every attempt that went out, once, when its outcome is classified (on the
  // loop, inside the transport's completion; before the call's callback, if that attempt
  // ends the call). For counters that need per-attempt data (metrics); it must return at
  // once and must not call back into the Balancer. Empty: nobody listens.
  using AttemptObserver = std::function<void(const AttemptRecord&)>;
  void setAttemptObserver(AttemptObserver observer);

  // Stats JSON: strategy, totals, success rate, and per endpoint x model: requests,
  // success, failures by class, p50/p95/p99, tokens, cost, breaker state, in flight,
  // bucket levels and pauses per key; "shared_buckets": {"store", "fallback" (the last
  // answer was "unavailable"), "fallbacks", "reserved", "refused", "unsynced_sends"
  // (sent on the local share, not yet in the store's window), "fallback_pushes"}.
  [[nodiscard]] nlohmann::json stats();

 private:
  // The state and the steps of the call loop (balancer/src/core/balancer_impl.h): behind
  // a pointer, so that the parts it holds by value stay private to the library.
  class Impl;
  explicit Balancer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace celeriac::balancer
