#include "admission/admission_control.h"

#include <algorithm>

namespace celeriac::balancer {
namespace {

// A separator that cannot appear in key aliases or model ids from the config.
std::string mapKey(std::string_view pool, std::string_view model) {
  std::string key;
  key.reserve(pool.size() + model.size() + 1);
  key.append(pool).push_back('\x1f');
  key.append(model);
  return key;
}

}  // namespace

std::string_view toString(AdmissionVerdict verdict) {
  switch (verdict) {
    case AdmissionVerdict::kAdmitted:
      return "admitted";
    case AdmissionVerdict::kPaused:
      return "key_paused";
    case AdmissionVerdict::kRequestsExhausted:
      return "rpm_exhausted";
    case AdmissionVerdict::kTokensExhausted:
      return "tpm_exhausted";
  }
  return "unknown";
}

AdmissionControl::AdmissionControl(std::chrono::nanoseconds period) : period_(period) {}

void AdmissionControl::configure(std::string_view pool, std::string_view model, RateLimits limits,
                                 SteadyTime now) {
  const std::string key = mapKey(pool, model);
  Entry fresh{RequestWindow(limits.rpm, period_),
              TokenBucket(static_cast<double>(limits.tpm), period_, now), Pause{}};
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    entries_.emplace(key, std::move(fresh));
    return;
  }
  // Assign in place: callers may hold the entry's address (entry()).
  fresh.pause = it->second.pause;
  it->second = std::move(fresh);
}

AdmissionControl::Entry& AdmissionControl::entry(std::string_view pool, std::string_view model,
                                                 SteadyTime now) {
  std::string key = mapKey(pool, model);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    it = entries_
             .emplace(std::move(key),
                      Entry{RequestWindow(0, period_), TokenBucket(0, period_, now), Pause{}})
             .first;
  }
  return it->second;
}

AdmissionDecision AdmissionControl::check(Entry& e, double tokens, SteadyTime now) const {
  AdmissionDecision d;
  if (e.pause.active(now)) {
    d.verdict = AdmissionVerdict::kPaused;
    d.retry_at = e.pause.until();
    return d;
  }
  // Check both before taking either, so that a refusal leaves both untouched.
  const SteadyTime requests_at = e.requests.availableAt(now);
  const auto wait_tokens = e.tokens.timeUntil(tokens, now);
  if (requests_at > now || wait_tokens.count() > 0) {
    d.verdict = requests_at > now ? AdmissionVerdict::kRequestsExhausted
                                  : AdmissionVerdict::kTokensExhausted;
    d.retry_at = wait_tokens == std::chrono::nanoseconds::max()
                     ? SteadyTime::max()
                     : std::max(requests_at, now + wait_tokens);
  }
  return d;
}

AdmissionDecision AdmissionControl::tryReserve(std::string_view pool, std::string_view model,
                                               double tokens, SteadyTime now) {
  Entry& e = entry(pool, model, now);
  AdmissionDecision d = check(e, tokens, now);
  if (d.verdict != AdmissionVerdict::kAdmitted) return d;
  e.requests.forceAdmit(now);
  e.tokens.forceReserve(tokens, now);
  d.reservation = Reservation{std::string(pool), std::string(model), tokens, now};
  return d;
}

void AdmissionControl::record(std::string_view pool, std::string_view model, double tokens,
                              SteadyTime now) {
  Entry& e = entry(pool, model, now);
  e.requests.forceAdmit(now);
  e.tokens.forceReserve(tokens, now);
}

SteadyTime AdmissionControl::availableAt(std::string_view pool, std::string_view model,
                                         double tokens, SteadyTime now) {
  Entry& e = entry(pool, model, now);
  const auto wait_tokens = e.tokens.timeUntil(tokens, now);
  if (wait_tokens == std::chrono::nanoseconds::max()) return SteadyTime::max();
  return std::max({now + wait_tokens, e.requests.availableAt(now), e.pause.until()});
}

void AdmissionControl::release(const Reservation& r, SteadyTime now) {
  Entry& e = entry(r.pool, r.model, now);
  e.requests.release(r.admitted_at, now);
  e.tokens.release(r.tokens, now);
}

void AdmissionControl::reconcile(const Reservation& r, std::optional<double> actual_tokens,
                                 SteadyTime now) {
  Entry& e = entry(r.pool, r.model, now);
  e.tokens.reconcile(r.tokens, actual_tokens, now);
}

void AdmissionControl::pauseUntil(std::string_view pool, std::string_view model, SteadyTime until) {
  entry(pool, model, until).pause.extendTo(until);
}

void AdmissionControl::syncFromHeaders(std::string_view pool, std::string_view model,
                                       const RateLimitInfo& info, SteadyTime now) {
  Entry& e = entry(pool, model, now);
  if (info.remaining_requests) {
    e.requests.syncFromHeaders(*info.remaining_requests, info.reset_requests, now);
  }
  if (info.remaining_tokens) {
    e.tokens.syncFromHeaders(*info.remaining_tokens, info.reset_tokens, now);
  }
}

AdmissionSnapshot AdmissionControl::snapshot(std::string_view pool, std::string_view model,
                                             SteadyTime now) {
  Entry& e = entry(pool, model, now);
  return AdmissionSnapshot{static_cast<double>(e.requests.remaining(now)), e.tokens.level(now),
                           static_cast<double>(e.requests.limit()), e.tokens.capacity(),
                           e.pause.until()};
}

}  // namespace celeriac::balancer
