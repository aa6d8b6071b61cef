// Balancer call loop, shared admission: keys used by several replicas are admitted
// through the SharedBucketStore, with the fallback to local buckets sized to this
// replica's share. The map of the loop is at the top of balancer.cc; the contracts (and
// the picture of the reserve's three answers) are in balancer.h.
//
// Why asynchronous: the store answers from Redis, on a later loop turn. Meanwhile the
// call is "reserving" (Call::reserving, an entry in reserves_): step() leaves it alone,
// cancel() detaches it at once (a late grant is then refunded), and the answer resumes it.
#include <algorithm>

#include "balancer/balancer.h"
#include "core/balancer_call.h"

namespace celeriac::balancer {
namespace {

// The shared limits of one (pool, model) under its hash tag (shared_bucket_store.h):
// requests in an exact sliding window (a token bucket would let ~2x the RPM through in
// one minute: full at start, then refilling), tokens in a bucket.
constexpr std::string_view kSharedRequestSuffix = ":rpmw";
constexpr std::string_view kSharedTokenSuffix = ":tpm";
constexpr std::string_view kSharedPauseSuffix = ":pause";
constexpr std::chrono::milliseconds kSharedPeriod = std::chrono::minutes(1);
// Providers count a request when it ARRIVES; the store stamps it when it is granted,
// which is a Redis reply, a loop turn and maybe a connection set-up earlier. If grants
// exactly one minute apart had different delays, the provider could see both in one
// minute. So the request window we keep is longer by this much (costs ~1.7 % of RPM).
constexpr std::chrono::milliseconds kSharedWindowGuard{1000};
// How often sends made on the local share are offered to the store until it takes them.
constexpr std::chrono::milliseconds kFallbackPushInterval{1000};

std::string poolModel(std::string_view pool, std::string_view model) {
  std::string key(pool);
  key.push_back('\x1f');
  key.append(model);
  return key;
}

}  // namespace

bool Balancer::Impl::usesStore(const KeyState& key, std::string_view model) const {
  return key.shared && shared_store_ != nullptr &&
         shared_limits_.contains(poolModel(key.pool, model));
}

Balancer::Impl::KeyCheck Balancer::Impl::checkKey(const KeyState& key,
                                                  AdmissionControl::Entry& pair,
                                                  std::string_view model, double tokens,
                                                  SteadyTime now) {
  // Within one window of the store going away, a shared key waits (balancer_impl.h): on
  // this replica's share it could add to other replicas' grants of that minute, and a
  // Redis back without its data would grant the whole limit again.
  if (usesStore(key, model) && now < shared_hold_until_) {
    return {false, "shared_fallback_hold", shared_hold_until_};
  }
  // Local keys, and shared ones while the store is unavailable (their buckets are then
  // sized to this replica's share).
  if (!usesStore(key, model) || shared_fallback_) {
    const AdmissionDecision d = admission_.check(pair, tokens, now);
    if (d.verdict == AdmissionVerdict::kAdmitted) return {true, {}, now};
    return {false, std::string(toString(d.verdict)), d.retry_at};
  }
  // Shared: a 429 pauses every replica's view of this process too; a refusal from the
  // store holds until its retry_after, so a busy key is not asked again and again.
  if (const SteadyTime paused = AdmissionControl::pausedUntil(pair); paused > now) {
    return {false, std::string(toString(AdmissionVerdict::kPaused)), paused};
  }
  if (auto it = shared_refused_until_.find(poolModel(key.pool, model));
      it != shared_refused_until_.end() && it->second > now) {
    return {false, "shared_exhausted", it->second};
  }
  return {true, {}, now};
}

std::vector<SharedBucketSpec> Balancer::Impl::sharedSpecs(std::string_view pool,
                                                          std::string_view model, double requests,
                                                          double tokens,
                                                          std::string_view grant) const {
  std::vector<SharedBucketSpec> specs;
  const auto it = shared_limits_.find(poolModel(pool, model));
  if (it == shared_limits_.end()) return specs;
  const std::string tag = sharedBucketTag(pool, model);
  if (it->second.rpm > 0 && requests != 0) {
    SharedBucketSpec& s = specs.emplace_back();
    s.key = tag + std::string(kSharedRequestSuffix);
    s.capacity = static_cast<double>(it->second.rpm);
    s.amount = requests;
    s.kind = SharedBucketSpec::Kind::kSlidingWindow;
    s.period = kSharedPeriod + kSharedWindowGuard;
    s.grant = grant;
  }
  if (it->second.tpm > 0 && tokens != 0) {
    SharedBucketSpec& s = specs.emplace_back();
    s.key = tag + std::string(kSharedTokenSuffix);
    s.capacity = static_cast<double>(it->second.tpm);
    s.amount = tokens;
    s.kind = SharedBucketSpec::Kind::kTokenBucket;
    s.period = kSharedPeriod;
  }
  return specs;
}

SharedBucketSpec Balancer::Impl::sharedPauseSpec(std::string_view pool, std::string_view model,
                                                 double pause_ms) {
  SharedBucketSpec s;
  s.key = sharedBucketTag(pool, model) + std::string(kSharedPauseSuffix);
  s.kind = SharedBucketSpec::Kind::kPause;
  s.amount = pause_ms;
  return s;
}

void Balancer::Impl::sharePause(std::string_view pool, std::string_view model,
                                std::chrono::milliseconds pause) {
  if (pause.count() <= 0) return;
  shared_store_->adjust({sharedPauseSpec(pool, model, static_cast<double>(pause.count()))},
                        [](SharedReserveResult) {});
}

void Balancer::Impl::reserveShared(Call& c, std::size_t e, std::size_t k, const std::string& model,
                                   double tokens) {
  // Sends made while the store was away go into its window first: the store runs one
  // connection's commands in order, so this reserve already counts them.
  const std::string& pool = endpoints_[e].keys[k].pool;
  if (!fallback_sends_.empty())
    pushFallbackSends(poolModel(pool, model), dispatcher_.clock().now());
  const std::uint64_t reserve_id = next_reserve_id_++;
  reserves_.emplace(reserve_id, PendingReserve{c.id, e, k, model, tokens});
  c.reserving = reserve_id;
  std::vector<SharedBucketSpec> specs = sharedSpecs(pool, model, 1, tokens);
  specs.push_back(sharedPauseSpec(pool, model, 0));  // a 429 seen by any replica holds
  shared_store_->reserve(std::move(specs),
                         lifetime_.guard([this, reserve_id](SharedReserveResult result) {
                           onSharedReserve(reserve_id, result);
                         }));
}

void Balancer::Impl::onSharedReserve(std::uint64_t reserve_id, SharedReserveResult result) {
  auto node = reserves_.extract(reserve_id);
  if (node.empty()) return;
  const PendingReserve p = std::move(node.mapped());
  const KeyState& key = endpoints_[p.endpoint].keys[p.key];
  const SteadyTime now = dispatcher_.clock().now();
  // admitted_at is set again by launch(), when the grant is mirrored locally.
  const Reservation reservation{key.pool, p.model, p.tokens, now, std::move(result.grant)};
  auto it = calls_.find(p.call);
  Call* c = p.call != 0 && it != calls_.end() ? it->second.get() : nullptr;
  if (c != nullptr) c->reserving.reset();
  using Status = SharedReserveResult::Status;
  if (result.status != Status::kUnavailable) shared_fallback_ = false;
  auto skip = [&](std::string reason) {
    c->record({TraceEntry::Kind::kSkipped,
               std::chrono::duration_cast<std::chrono::microseconds>(now - c->submitted),
               endpoints_[p.endpoint].config.name,
               p.model,
               key.alias,
               std::move(reason),
               FailureClass::kNone,
               0,
               {},
               0});
  };

  switch (result.status) {
    case Status::kReserved:
      ++shared_reserved_;
      if (now < shared_hold_until_) {  // a store back within the hold: its grant waits too
        refundSharedGrant(reservation);
        if (c != nullptr) skip("shared_fallback_hold");
        break;
      }
      // A call cancelled or out of time meanwhile never goes out: hand the grant back.
      // (Launching past the deadline would end in a transport timeout that the breaker
      // would wrongly count against the endpoint.)
      if (c != nullptr && !c->cancelled && now < c->deadline &&
          launch(*c, p.endpoint, p.key, p.model, reservation, true)) {
        return;
      }
      refundSharedGrant(reservation);
      break;
    case Status::kRefused: {
      ++shared_refused_;
      const SteadyTime until = now + std::max(result.retry_after, std::chrono::milliseconds(1));
      SteadyTime& held = shared_refused_until_[poolModel(key.pool, p.model)];
      held = std::max(held, until);
      if (c != nullptr) skip("shared_exhausted");
      break;
    }
    case Status::kUnavailable: {
      ++shared_fallbacks_;
      if (!shared_fallback_) {
        // Every grant the store made was made before now: one window (with its guard)
        // from now, all of them have expired, and the replicas' shares add up to the limit.
        shared_hold_until_ = now + kSharedPeriod + kSharedWindowGuard;
      }
      shared_fallback_ = true;
      if (c == nullptr || c->cancelled || now >= c->deadline) break;
      if (now < shared_hold_until_) {
        skip("shared_fallback_hold");
        break;
      }
      AdmissionDecision d = admission_.tryReserve(key.pool, p.model, p.tokens, now);
      if (d.reservation && launch(*c, p.endpoint, p.key, p.model, *d.reservation, false)) {
        fallbackSent(*d.reservation, now);
        return;
      }
      if (d.reservation) admission_.release(*d.reservation, now);
      skip(d.verdict == AdmissionVerdict::kAdmitted ? "breaker_open"
                                                    : std::string(toString(d.verdict)));
      break;
    }
  }
  // Not sent: walk the candidates again (another key, a wait, or the end of the call).
  if (c != nullptr) step(c->id);
}

void Balancer::Impl::releaseReservation(const Reservation& r, bool remote) {
  admission_.release(r, dispatcher_.clock().now());
  if (remote) refundSharedGrant(r);
}

void Balancer::Impl::refundSharedGrant(const Reservation& r) {
  auto specs = sharedSpecs(r.pool, r.model, -1, -r.tokens, r.shared_grant);
  // Best effort: if the store is away the refund is lost, which only errs on the safe side.
  if (!specs.empty()) shared_store_->adjust(std::move(specs), [](SharedReserveResult) {});
}

void Balancer::Impl::reconcileReservation(const Reservation& r, bool remote,
                                          std::optional<double> actual_tokens) {
  admission_.reconcile(r, actual_tokens, dispatcher_.clock().now());
  if (!remote || !actual_tokens) return;  // unknown usage never refunds
  auto specs = sharedSpecs(r.pool, r.model, 0, *actual_tokens - r.tokens);
  if (!specs.empty()) shared_store_->adjust(std::move(specs), [](SharedReserveResult) {});
}

// Why: while the store is unavailable every replica sends on its local share, and the
// store's window never hears of those sends. When it answers again, a replica granted
// from that window alone could add a full limit on top of them within the same minute.
// So each send made on the local share is written into the store's window (an "adjust"
// adding entries, stamped when the store applies it: later than the real send, so the
// entries expire late, the safe direction) before this replica's next reserve of that
// pool and model, and every kFallbackPushInterval until applied, even when idle. Sends
// older than the window no longer matter and are dropped instead.
void Balancer::Impl::fallbackSent(const Reservation& r, SteadyTime now) {
  const std::string key = poolModel(r.pool, r.model);
  auto it = fallback_sends_.find(key);
  if (it == fallback_sends_.end()) {
    it = fallback_sends_.emplace(key, FallbackSends{r.pool, r.model, {}, 0}).first;
  }
  it->second.sends.emplace_back(now, r.tokens);
  armFallbackPushTimer();
}

void Balancer::Impl::pushFallbackSends(const std::string& pool_model, SteadyTime now) {
  auto it = fallback_sends_.find(pool_model);
  if (it == fallback_sends_.end()) return;
  FallbackSends& f = it->second;
  if (f.pushing > 0) return;  // one adjust at a time: its answer says what was written
  while (!f.sends.empty() && f.sends.front().first + kSharedPeriod + kSharedWindowGuard <= now) {
    f.sends.pop_front();
  }
  if (f.sends.empty()) {
    fallback_sends_.erase(it);
    return;
  }
  double tokens = 0;
  for (const auto& send : f.sends) tokens += send.second;
  f.pushing = f.sends.size();
  shared_store_->adjust(
      sharedSpecs(f.pool, f.model, static_cast<double>(f.pushing), tokens),
      lifetime_.guard([this, pool_model, count = f.pushing](SharedReserveResult result) {
        onFallbackPushed(pool_model, count, result.status);
      }));
}

void Balancer::Impl::onFallbackPushed(const std::string& pool_model, std::size_t count,
                                      SharedReserveResult::Status status) {
  auto it = fallback_sends_.find(pool_model);
  if (it == fallback_sends_.end()) return;
  FallbackSends& f = it->second;
  f.pushing = 0;
  // kUnavailable: not written (or unknown: a timed-out adjust may have been applied;
  // writing it again then counts those sends twice, the safe direction).
  if (status == SharedReserveResult::Status::kUnavailable) return;
  ++shared_fallback_pushes_;
  f.sends.erase(f.sends.begin(),
                f.sends.begin() + static_cast<std::ptrdiff_t>(std::min(count, f.sends.size())));
  if (f.sends.empty()) fallback_sends_.erase(it);
}

void Balancer::Impl::armFallbackPushTimer() {
  if (fallback_push_timer_ != 0 || fallback_sends_.empty()) return;
  fallback_push_timer_ = dispatcher_.schedule(kFallbackPushInterval,
                                              lifetime_.guard([this] { onFallbackPushTimer(); }));
}

void Balancer::Impl::onFallbackPushTimer() {
  fallback_push_timer_ = 0;
  const SteadyTime now = dispatcher_.clock().now();
  std::vector<std::string> keys;  // pushFallbackSends() may erase entries
  for (const auto& [key, sends] : fallback_sends_) keys.push_back(key);
  for (const auto& key : keys) pushFallbackSends(key, now);
  armFallbackPushTimer();
}

nlohmann::json Balancer::Impl::sharedStats() const {
  std::set<std::string_view> pools;
  for (const auto& ep : endpoints_) {
    for (const auto& key : ep.keys) {
      if (key.shared) pools.insert(key.pool);
    }
  }
  std::size_t unsynced = 0;
  for (const auto& [key, f] : fallback_sends_) unsynced += f.sends.size();
  return {{"store", shared_store_ != nullptr},
          {"shared_pools", pools.size()},
          // Without a store, shared keys are on their local share for good.
          {"fallback", !pools.empty() && (shared_fallback_ || shared_store_ == nullptr)},
          {"fallbacks", shared_fallbacks_},
          {"reserved", shared_reserved_},
          {"refused", shared_refused_},
          // Sends made on the local share that the store's window does not hold yet.
          {"unsynced_sends", unsynced},
          {"fallback_pushes", shared_fallback_pushes_},
          {"reserving", reserves_.size()}};
}

}  // namespace celeriac::balancer
