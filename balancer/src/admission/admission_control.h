#pragma once
// AdmissionControl: the RPM window, the TPM bucket, and the 429 pause, of every
// (pool, model).
//
// For: answering "may a call of N tokens go out on this key for this model now, and if
// not, when?". A pool is an API key alias, or the quota group several keys share (they
// are paced and cooled together). Requests are limited by an exact sliding window
// (RequestWindow: never more than `rpm` sends in any `period`, even with no provider
// headers); tokens by a TokenBucket (estimates reserved up front, reconciled after).
// Both are taken together or neither is: a refused TPM never leaks a request slot.
// Not for: picking keys (Balancer) or shared cross-process buckets (SharedBucketStore).
// Not thread-safe; owned by the Balancer on its loop. Time is passed in.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "admission/pause.h"
#include "admission/request_window.h"
#include "admission/token_bucket.h"
#include "balancer/config.h"  // the options
#include "common/clock.h"
#include "providers/rate_limit_info.h"

namespace celeriac::balancer {

// Proof of one admitted call; hand it back exactly once to release() or reconcile().
struct Reservation {
  std::string pool;
  std::string model;
  double tokens = 0;
  // When its request-window entry was made, so that release() forgets that very entry.
  SteadyTime admitted_at{};
  // Shared keys only: the store's SharedReserveResult::grant, so that handing the
  // reservation back removes exactly its own request-window entry.
  std::string shared_grant = {};
};

enum class AdmissionVerdict { kAdmitted, kPaused, kRequestsExhausted, kTokensExhausted };

[[nodiscard]] std::string_view toString(AdmissionVerdict verdict);

struct AdmissionDecision {
  AdmissionVerdict verdict = AdmissionVerdict::kAdmitted;
  std::optional<Reservation> reservation;  // set iff admitted
  SteadyTime retry_at{};                   // when refused: earliest time worth retrying
};

struct AdmissionSnapshot {
  double requests_level = 0;  // admissions left in the current window
  double tokens_level = 0;
  double requests_capacity = 0;  // 0 = unlimited
  double tokens_capacity = 0;
  SteadyTime paused_until{};
};

class AdmissionControl {
 public:
  explicit AdmissionControl(std::chrono::nanoseconds period = std::chrono::minutes(1));

  // Sets the limits of (pool, model). Unconfigured pairs are unlimited (but can still be
  // paused). Reconfiguring restarts the pair's buckets full.
  void configure(std::string_view pool, std::string_view model, RateLimits limits, SteadyTime now);

  [[nodiscard]] AdmissionDecision tryReserve(std::string_view pool, std::string_view model,
                                             double tokens, SteadyTime now);

  // A send admitted elsewhere (a shared key's grant from the SharedBucketStore), recorded
  // here too and never refused: should the store become unavailable, this replica's local
  // share then already counts its own recent sends, instead of starting full on top of
  // them. Settle it like a reservation of (pool, model, tokens): release or reconcile.
  void record(std::string_view pool, std::string_view model, double tokens, SteadyTime now);

  // Earliest time tryReserve(tokens) could succeed (now if it would).
  [[nodiscard]] SteadyTime availableAt(std::string_view pool, std::string_view model, double tokens,
                                       SteadyTime now);

  // The call never went out: give everything back.
  void release(const Reservation& reservation, SteadyTime now);

  // The call went out. `actual_tokens` is the provider's usage, nullopt if unknown
  // (then nothing is refunded). The request token is never refunded.
  void reconcile(const Reservation& reservation, std::optional<double> actual_tokens,
                 SteadyTime now);

  // 429: no admission before `until` (a later deadline always wins).
  void pauseUntil(std::string_view pool, std::string_view model, SteadyTime until);

  // Tightens the buckets from the provider's headers (never loosens them).
  void syncFromHeaders(std::string_view pool, std::string_view model, const RateLimitInfo& info,
                       SteadyTime now);

  [[nodiscard]] AdmissionSnapshot snapshot(std::string_view pool, std::string_view model,
                                           SteadyTime now);

  // One (pool, model)'s state. Opaque to callers: they only hold it to skip the lookup.
  struct Entry {
    RequestWindow requests;
    TokenBucket tokens;
    Pause pause;
  };
  // The pair's state, created unlimited if new, at an address that stays valid for the
  // AdmissionControl's life (reconfiguring keeps it too), so a hot path can look it up
  // once and then check() it without hashing strings (Balancer: per endpoint per pick).
  Entry& entry(std::string_view pool, std::string_view model, SteadyTime now);
  // Would tryReserve admit now? Same verdict and retry_at, but reserves nothing.
  [[nodiscard]] AdmissionDecision check(Entry& pair, double tokens, SteadyTime now) const;
  // The end of the pair's 429 pause (in the past when not paused).
  [[nodiscard]] static SteadyTime pausedUntil(const Entry& pair) { return pair.pause.until(); }

 private:
  std::chrono::nanoseconds period_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace celeriac::balancer
