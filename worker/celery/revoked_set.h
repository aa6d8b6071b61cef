#pragma once
// RevokedSet: the ids `revoke` has flagged, as Celery's worker keeps them (a LimitedSet
// in celery/utils/collections.py, `worker_state.revoked`).
//
// What for: a task whose id is in the set is not run: REVOKED `TaskRevokedError('revoked')`
// + ack; `inspect revoked` lists it; `hello` (mingle) swaps it with Python workers;
// `--statedb` persists it (toJson / fromJson; the app writes the file).
// Limits as Celery's: at most `max_entries` (CELERY_WORKER_REVOKES_MAX, 50,000), the
// oldest evicted first, each kept `expiry` (CELERY_WORKER_REVOKE_EXPIRES, 10,800 s).
//
// Time base: Python stamps entries with time.monotonic() and `hello` ships those stamps
// as they are, so a peer's stamps only mean something on the same monotonic clock.
// Hence `now` here is a std::chrono::steady_clock time point: on Linux steady_clock is
// CLOCK_MONOTONIC, the clock behind Python's time.monotonic(), so stamps exchanged with
// a Python worker on the same host agree exactly, and across hosts they are as
// (in)accurate as between two Python workers. Persistence converts to wall-clock
// seconds (toJson / fromJson take both clocks) because CLOCK_MONOTONIC restarts at boot.
//
// Deliberate differences from LimitedSet (each one safer for the caller):
//  * contains() honours the expiry; Python keeps an expired id "revoked" until a purge
//    happens (only when the set is full, on `hello`, or at a statedb save).
//  * merging an id that is already present keeps the later stamp (Python overwrites
//    with whatever arrives, which can shorten a revoke).
//  * a malformed `hello` entry is skipped; Python rejects the whole `hello` with an
//    error reply (ValueError for a non-float stamp).
// What not: not thread-safe; lives on the worker's loop. No I/O.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace celeriac::worker::celery {

class RevokedSet {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;

  static constexpr std::size_t kDefaultMaxEntries = 50'000;
  static constexpr std::chrono::seconds kDefaultExpiry{10'800};

  // max_entries 0 means unbounded; expiry zero or less means entries never expire.
  explicit RevokedSet(std::size_t max_entries = kDefaultMaxEntries,
                      std::chrono::duration<double> expiry = kDefaultExpiry);

  // Flags `id` as revoked at `now` (re-adding restarts its expiry). Evicts the oldest
  // entries beyond max_entries.
  void add(std::string_view id, SteadyTime now);

  // True while `id` is flagged and not yet expired at `now`.
  [[nodiscard]] bool contains(std::string_view id, SteadyTime now) const;

  // Drops entries expired at `now`.
  void purge(SteadyTime now);

  // Ids, oldest first (Python's iteration order); may include expired ones unless
  // purge() ran first. What `inspect revoked` lists.
  [[nodiscard]] std::vector<std::string> ids() const;

  [[nodiscard]] std::size_t size() const { return stamps_.size(); }
  [[nodiscard]] bool empty() const { return stamps_.empty(); }

  // --- mingle (`hello`) ---

  // Merges a peer's `revoked` argument of `hello`: {id: [ts, id]} (what Python sends,
  // LimitedSet._data), {id: ts}, or a list of ids (stamped `now`). Stamps are taken as
  // they are (peer's monotonic seconds, see above). Returns how many ids were merged;
  // malformed entries are skipped. Null or anything else merges nothing.
  std::size_t mergeHello(const nlohmann::json& revoked, SteadyTime now);

  // The reply value of `hello` after a merge: purges at `now`, then
  // {"revoked": {id: [ts, id], ...}, "clock": clock}, exactly Python's form (stamps as
  // JSON floats: Python's LimitedSet.update rejects an integer stamp). `clock` is the
  // worker's LamportClock::forward(). The app replies null instead when `from_node` is
  // its own nodename.
  nlohmann::json helloReply(SteadyTime now, std::uint64_t clock);

  // --- persistence (--statedb) ---

  // {"version": 1, "revoked": [[id, wall_epoch_s], ...]} oldest first; each stamp is
  // converted to wall-clock epoch seconds with the pair (now, wall_now) so it survives a
  // reboot.
  [[nodiscard]] nlohmann::json toJson(SteadyTime now, WallTime wall_now) const;

  // Reads what toJson wrote into a set with the given limits, converting stamps back
  // with (now, wall_now) and purging what expired meanwhile; or says why `saved` is not
  // a saved set. Never throws.
  static Result<RevokedSet> fromJson(const nlohmann::json& saved, SteadyTime now, WallTime wall_now,
                                     std::size_t max_entries = kDefaultMaxEntries,
                                     std::chrono::duration<double> expiry = kDefaultExpiry);

 private:
  // Stamps are seconds on the steady clock, as doubles, so that a peer's float stamps
  // round-trip unchanged through mergeHello / helloReply.
  void insert(std::string_view id, double stamp_s, bool keep_later);
  void evictOverflow();
  [[nodiscard]] bool expired(double stamp_s, double now_s) const;

  std::size_t max_entries_;
  double expiry_s_;
  std::unordered_map<std::string, double> stamps_;
  std::set<std::pair<double, std::string>> by_age_;  // oldest first
};

}  // namespace celeriac::worker::celery
