#pragma once
// SharedAdmission: admission of the keys several replicas share, through the
// SharedBucketStore, with the local buckets, sized to this replica's share, as the
// fallback while the store is unavailable.
//
// For: the Balancer's pick (may a shared key take a call now? ask the store), its
// settling of a call that went out on a store grant (refund, reconcile, a 429's pause for
// every replica) and its stats. It owns what the store's answers teach: the full limits
// of each shared (pool, model), until when the store refused a pair, whether the store is
// unavailable and the hold after it went away, and the sends made on the local share
// that the store's window has not heard of yet (pushed to it once it answers again).
// Not for: keys of one replica (AdmissionControl alone), nor the store's protocol
// (SharedBucketStore). Picking the key and sending are the Balancer's.
//
// Why asynchronous: the store answers from Redis, on a later loop turn; reserve() hands
// its answer to a callback, which never runs inside reserve().
// Ownership and threading: owned by the Balancer, on its loop; uses (does not own) the
// store, the dispatcher (timers, clock) and the Balancer's AdmissionControl, all of
// which outlive it. Callbacks it handed out find it gone after it is destroyed.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "admission/admission_control.h"
#include "balancer/config.h"
#include "balancer/shared_bucket_store.h"
#include "common/dispatcher.h"
#include "common/lifetime_token.h"

namespace celeriac::balancer {

class SharedAdmission {
 public:
  // May a key take a call now? If not: why (a constant, for the call's trace) and when it
  // is worth asking again.
  struct Check {
    std::string_view refusal;  // empty: it may
    SteadyTime retry_at{};
    [[nodiscard]] bool ok() const { return refusal.empty(); }
  };
  // What the store's answer to one reserve lets the call do.
  struct Answer {
    // A grant: send on it, or hand it back (refund() when `remote`, else the local
    // AdmissionControl's release()).
    std::optional<Reservation> reservation;
    bool remote = false;  // granted by the store; else on this replica's local share
    // No grant: why, for the call's trace. Empty: nothing to record (the call is past its
    // deadline, and its next step ends it).
    std::string_view refusal;
  };
  using Answered = std::function<void(Answer)>;

  // `store` null: no store; shared keys then stay on their local share for good.
  SharedAdmission(SharedBucketStore* store, Dispatcher& dispatcher, AdmissionControl& local);
  ~SharedAdmission();
  SharedAdmission(const SharedAdmission&) = delete;
  SharedAdmission& operator=(const SharedAdmission&) = delete;

  // (pool, model) of a shared key: the store enforces `limits` across all replicas; the
  // local buckets get one replica's share (at least 1 of a set limit).
  void configure(std::string_view pool, std::string_view model, RateLimits limits,
                 std::int64_t replicas, SteadyTime now);
  // Does a shared key of `pool` go through the store for `model`?
  [[nodiscard]] bool uses(std::string_view pool, std::string_view model) const;
  // For a pair uses() is true of; `pair` is its local admission state.
  [[nodiscard]] Check check(std::string_view pool, std::string_view model,
                            AdmissionControl::Entry& pair, double tokens, SteadyTime now) const;

  // Asks the store for one request and `tokens` of (pool, model). `answered` runs on a
  // later turn unless detach()ed first; a call past `deadline` by then gets no grant.
  // Returns the id detach() takes.
  std::uint64_t reserve(std::string_view pool, std::string_view model, double tokens,
                        SteadyTime deadline, Answered answered);
  // The call went away: its answer still teaches (refusals, unavailability), but a grant
  // is refunded and `answered` never runs.
  void detach(std::uint64_t reserve_id);

  // A store grant handed back: never sent, or its send released.
  void refund(const Reservation& reservation);
  // A store grant's send settled with the provider's `actual_tokens` (the difference is
  // given back or taken).
  void reconcile(const Reservation& reservation, double actual_tokens);
  // A send made on the local share (an Answer not `remote`), for the store's window.
  void sentOnLocalShare(const Reservation& reservation, SteadyTime now);
  // A 429 on a shared key: every replica's next reserve for (pool, model) waits `pause`.
  void sharePause(std::string_view pool, std::string_view model, std::chrono::milliseconds pause);

  // The "shared_buckets" stats; `shared_pools`: how many pools have a shared key.
  [[nodiscard]] nlohmann::json stats(std::size_t shared_pools) const;

 private:
  struct PendingReserve {
    std::string pool, model;
    double tokens = 0;
    SteadyTime deadline{};
    Answered answered;  // empty once detached
  };
  struct FallbackSends {  // of one pool\x1fmodel, oldest first
    std::string pool, model;
    std::deque<std::pair<SteadyTime, double>> sends;  // (sent at, tokens reserved)
    std::size_t pushing = 0;  // the oldest `pushing` are in an adjust awaiting its answer
  };

  void onStoreAnswer(std::uint64_t reserve_id, SharedReserveResult result);
  // The store's limits for (pool, model): the request window (`grant` names the entry a
  // refund removes) and the token bucket, each only when its limit and amount are set.
  [[nodiscard]] std::vector<SharedBucketSpec> specs(std::string_view pool, std::string_view model,
                                                    double requests, double tokens,
                                                    std::string_view grant = {}) const;
  void pushFallbackSends(const std::string& pool_model, SteadyTime now);
  void onFallbackPushed(const std::string& pool_model, std::size_t count,
                        SharedReserveResult::Status status);
  void armFallbackPushTimer();
  void onFallbackPushTimer();

  SharedBucketStore* store_;
  Dispatcher& dispatcher_;
  AdmissionControl& local_;
  std::map<std::string, RateLimits, std::less<>> limits_;         // pool\x1fmodel: full
  std::map<std::string, SteadyTime, std::less<>> refused_until_;  // pool\x1fmodel
  std::unordered_map<std::uint64_t, PendingReserve> pending_;
  std::uint64_t next_reserve_id_ = 1;
  bool unavailable_ = false;  // the store's last answer was kUnavailable
  // When the store goes away, shared keys send nothing until one window later: neither on
  // the local share (other replicas' grants of that window are unknown here) nor on a
  // store grant (a Redis that restarted without its data forgot them).
  SteadyTime hold_until_{};
  std::map<std::string, FallbackSends, std::less<>> fallback_sends_;
  TimerId fallback_push_timer_ = 0;
  std::int64_t fallbacks_ = 0, reserved_ = 0, refused_ = 0, fallback_pushes_ = 0;
  LifetimeToken lifetime_;  // guards what the store and the dispatcher call back
};

}  // namespace celeriac::balancer
