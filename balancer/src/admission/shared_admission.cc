// SharedAdmission: the store's answers and what they teach; the pushes of sends made on
// the local share. The contracts are in shared_admission.h.
#include "admission/shared_admission.h"

#include <algorithm>

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

constexpr std::string_view kHold = "shared_fallback_hold";
constexpr std::string_view kExhausted = "shared_exhausted";

std::string poolModel(std::string_view pool, std::string_view model) {
  std::string key(pool);
  key.push_back('\x1f');
  key.append(model);
  return key;
}

SharedBucketSpec pauseSpec(std::string_view pool, std::string_view model, double pause_ms) {
  SharedBucketSpec s;
  s.key = sharedBucketTag(pool, model) + std::string(kSharedPauseSuffix);
  s.kind = SharedBucketSpec::Kind::kPause;
  s.amount = pause_ms;
  return s;
}

}  // namespace

SharedAdmission::SharedAdmission(SharedBucketStore* store, Dispatcher& dispatcher,
                                 AdmissionControl& local)
    : store_(store), dispatcher_(dispatcher), local_(local) {}

SharedAdmission::~SharedAdmission() {
  lifetime_.revoke();
  if (fallback_push_timer_ != 0) dispatcher_.cancel(fallback_push_timer_);
}

void SharedAdmission::configure(std::string_view pool, std::string_view model, RateLimits limits,
                                std::int64_t replicas, SteadyTime now) {
  limits_.insert_or_assign(poolModel(pool, model), limits);
  const auto share = [&](std::int64_t limit) {
    return limit == 0 ? 0 : std::max<std::int64_t>(1, limit / replicas);
  };
  local_.configure(pool, model, {share(limits.rpm), share(limits.tpm)}, now);
}

bool SharedAdmission::uses(std::string_view pool, std::string_view model) const {
  return store_ != nullptr && limits_.contains(poolModel(pool, model));
}

SharedAdmission::Check SharedAdmission::check(std::string_view pool, std::string_view model,
                                              AdmissionControl::Entry& pair, double tokens,
                                              SteadyTime now) const {
  // Within one window of the store going away the key waits (hold_until_): on this
  // replica's share it could add to other replicas' grants of that minute, and a Redis
  // back without its data would grant the whole limit again.
  if (now < hold_until_) return {kHold, hold_until_};
  // While the store is unavailable: this replica's share, in the local buckets.
  if (unavailable_) {
    const AdmissionDecision d = local_.check(pair, tokens, now);
    if (d.verdict == AdmissionVerdict::kAdmitted) return {{}, now};
    return {toString(d.verdict), d.retry_at};
  }
  // A 429 pauses every replica's view of this process too; a refusal from the store
  // holds until its retry_after, so a busy key is not asked again and again.
  if (const SteadyTime paused = AdmissionControl::pausedUntil(pair); paused > now) {
    return {toString(AdmissionVerdict::kPaused), paused};
  }
  if (auto it = refused_until_.find(poolModel(pool, model));
      it != refused_until_.end() && it->second > now) {
    return {kExhausted, it->second};
  }
  return {{}, now};
}

std::uint64_t SharedAdmission::reserve(std::string_view pool, std::string_view model, double tokens,
                                       SteadyTime deadline, Answered answered) {
  // Sends made while the store was away go into its window first: the store runs one
  // connection's commands in order, so this reserve already counts them.
  if (!fallback_sends_.empty())
    pushFallbackSends(poolModel(pool, model), dispatcher_.clock().now());
  const std::uint64_t reserve_id = next_reserve_id_++;
  pending_.emplace(reserve_id, PendingReserve{std::string(pool), std::string(model), tokens,
                                              deadline, std::move(answered)});
  std::vector<SharedBucketSpec> wanted = specs(pool, model, 1, tokens);
  wanted.push_back(pauseSpec(pool, model, 0));  // a 429 seen by any replica holds
  store_->reserve(std::move(wanted),
                  lifetime_.guard([this, reserve_id](SharedReserveResult result) {
                    onStoreAnswer(reserve_id, std::move(result));
                  }));
  return reserve_id;
}

void SharedAdmission::detach(std::uint64_t reserve_id) {
  if (auto it = pending_.find(reserve_id); it != pending_.end()) it->second.answered = nullptr;
}

void SharedAdmission::onStoreAnswer(std::uint64_t reserve_id, SharedReserveResult result) {
  auto node = pending_.extract(reserve_id);
  if (node.empty()) return;
  PendingReserve p = std::move(node.mapped());
  const SteadyTime now = dispatcher_.clock().now();
  // A detached call, or one out of time meanwhile, gets no grant: a send past the
  // deadline would end in a transport timeout that the breaker would wrongly count
  // against the endpoint. (admitted_at is set again when the Balancer mirrors a grant.)
  const bool wants_grant = p.answered && now < p.deadline;
  Reservation reservation{p.pool, p.model, p.tokens, now, std::move(result.grant)};
  using Status = SharedReserveResult::Status;
  if (result.status != Status::kUnavailable) unavailable_ = false;
  Answer answer;
  switch (result.status) {
    case Status::kReserved:
      ++reserved_;
      if (now < hold_until_) {  // a store back within the hold: its grant waits too
        refund(reservation);
        answer.refusal = kHold;
      } else if (wants_grant) {
        answer.reservation = std::move(reservation);
        answer.remote = true;
      } else {
        refund(reservation);
      }
      break;
    case Status::kRefused: {
      ++refused_;
      const SteadyTime until = now + std::max(result.retry_after, std::chrono::milliseconds(1));
      SteadyTime& held = refused_until_[poolModel(p.pool, p.model)];
      held = std::max(held, until);
      answer.refusal = kExhausted;
      break;
    }
    case Status::kUnavailable: {
      ++fallbacks_;
      if (!unavailable_) {
        // Every grant the store made was made before now: one window (with its guard)
        // from now, all of them have expired, and the replicas' shares add up to the limit.
        hold_until_ = now + kSharedPeriod + kSharedWindowGuard;
      }
      unavailable_ = true;
      if (!wants_grant) break;
      if (now < hold_until_) {
        answer.refusal = kHold;
        break;
      }
      AdmissionDecision d = local_.tryReserve(p.pool, p.model, p.tokens, now);
      if (d.reservation) {
        answer.reservation = std::move(d.reservation);
      } else {
        answer.refusal = toString(d.verdict);
      }
      break;
    }
  }
  if (p.answered) p.answered(std::move(answer));
}

std::vector<SharedBucketSpec> SharedAdmission::specs(std::string_view pool, std::string_view model,
                                                     double requests, double tokens,
                                                     std::string_view grant) const {
  std::vector<SharedBucketSpec> out;
  const auto it = limits_.find(poolModel(pool, model));
  if (it == limits_.end()) return out;
  const std::string tag = sharedBucketTag(pool, model);
  if (it->second.rpm > 0 && requests != 0) {
    SharedBucketSpec& s = out.emplace_back();
    s.key = tag + std::string(kSharedRequestSuffix);
    s.capacity = static_cast<double>(it->second.rpm);
    s.amount = requests;
    s.kind = SharedBucketSpec::Kind::kSlidingWindow;
    s.period = kSharedPeriod + kSharedWindowGuard;
    s.grant = grant;
  }
  if (it->second.tpm > 0 && tokens != 0) {
    SharedBucketSpec& s = out.emplace_back();
    s.key = tag + std::string(kSharedTokenSuffix);
    s.capacity = static_cast<double>(it->second.tpm);
    s.amount = tokens;
    s.kind = SharedBucketSpec::Kind::kTokenBucket;
    s.period = kSharedPeriod;
  }
  return out;
}

void SharedAdmission::refund(const Reservation& r) {
  auto given_back = specs(r.pool, r.model, -1, -r.tokens, r.shared_grant);
  // Best effort: if the store is away the refund is lost, which only errs on the safe side.
  if (!given_back.empty()) store_->adjust(std::move(given_back), [](SharedReserveResult) {});
}

void SharedAdmission::reconcile(const Reservation& r, double actual_tokens) {
  auto difference = specs(r.pool, r.model, 0, actual_tokens - r.tokens);
  if (!difference.empty()) store_->adjust(std::move(difference), [](SharedReserveResult) {});
}

void SharedAdmission::sharePause(std::string_view pool, std::string_view model,
                                 std::chrono::milliseconds pause) {
  if (pause.count() <= 0) return;
  store_->adjust({pauseSpec(pool, model, static_cast<double>(pause.count()))},
                 [](SharedReserveResult) {});
}

// Why: while the store is unavailable every replica sends on its local share, and the
// store's window never hears of those sends. When it answers again, a replica granted
// from that window alone could add a full limit on top of them within the same minute.
// So each send made on the local share is written into the store's window (an "adjust"
// adding entries, stamped when the store applies it: later than the real send, so the
// entries expire late, the safe direction) before this replica's next reserve of that
// pool and model, and every kFallbackPushInterval until applied, even when idle. Sends
// older than the window no longer matter and are dropped instead.
void SharedAdmission::sentOnLocalShare(const Reservation& r, SteadyTime now) {
  const std::string key = poolModel(r.pool, r.model);
  auto it = fallback_sends_.find(key);
  if (it == fallback_sends_.end()) {
    it = fallback_sends_.emplace(key, FallbackSends{r.pool, r.model, {}, 0}).first;
  }
  it->second.sends.emplace_back(now, r.tokens);
  armFallbackPushTimer();
}

void SharedAdmission::pushFallbackSends(const std::string& pool_model, SteadyTime now) {
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
  store_->adjust(specs(f.pool, f.model, static_cast<double>(f.pushing), tokens),
                 lifetime_.guard([this, pool_model, count = f.pushing](SharedReserveResult result) {
                   onFallbackPushed(pool_model, count, result.status);
                 }));
}

void SharedAdmission::onFallbackPushed(const std::string& pool_model, std::size_t count,
                                       SharedReserveResult::Status status) {
  auto it = fallback_sends_.find(pool_model);
  if (it == fallback_sends_.end()) return;
  FallbackSends& f = it->second;
  f.pushing = 0;
  // kUnavailable: not written (or unknown: a timed-out adjust may have been applied;
  // writing it again then counts those sends twice, the safe direction).
  if (status == SharedReserveResult::Status::kUnavailable) return;
  ++fallback_pushes_;
  f.sends.erase(f.sends.begin(),
                f.sends.begin() + static_cast<std::ptrdiff_t>(std::min(count, f.sends.size())));
  if (f.sends.empty()) fallback_sends_.erase(it);
}

void SharedAdmission::armFallbackPushTimer() {
  if (fallback_push_timer_ != 0 || fallback_sends_.empty()) return;
  fallback_push_timer_ = dispatcher_.schedule(kFallbackPushInterval,
                                              lifetime_.guard([this] { onFallbackPushTimer(); }));
}

void SharedAdmission::onFallbackPushTimer() {
  fallback_push_timer_ = 0;
  const SteadyTime now = dispatcher_.clock().now();
  std::vector<std::string> keys;  // pushFallbackSends() may erase entries
  for (const auto& [key, sends] : fallback_sends_) keys.push_back(key);
  for (const auto& key : keys) pushFallbackSends(key, now);
  armFallbackPushTimer();
}

nlohmann::json SharedAdmission::stats(std::size_t shared_pools) const {
  std::size_t unsynced = 0;
  for (const auto& [key, f] : fallback_sends_) unsynced += f.sends.size();
  return {{"store", store_ != nullptr},
          {"shared_pools", shared_pools},
          // Without a store, shared keys are on their local share for good.
          {"fallback", shared_pools > 0 && (unavailable_ || store_ == nullptr)},
          {"fallbacks", fallbacks_},
          {"reserved", reserved_},
          {"refused", refused_},
          // Sends made on the local share that the store's window does not hold yet.
          {"unsynced_sends", unsynced},
          {"fallback_pushes", fallback_pushes_},
          {"reserving", pending_.size()}};
}

}  // namespace celeriac::balancer
