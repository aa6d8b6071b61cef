// Balancer call loop, the answer: onResponse classifies one attempt's outcome once
// (FailureClass) and acts on it: settles the reservation, reads the rate-limit headers,
// feeds the breaker, stats and pauses, then ends the call or hands it back to step(). The
// map of the loop is at the top of balancer.cc; the contracts are in balancer.h.
#include <utility>

#include "balancer/balancer.h"
#include "core/balancer_call.h"
#include "core/balancer_impl.h"
#include "providers/provider_codec.h"
#include "providers/rate_limit_info.h"

namespace celeriac::balancer {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// With no Retry-After or reset header, a 429 pauses the key this long.
constexpr milliseconds kDefault429Pause{1'000};

}  // namespace

void Balancer::Impl::onResponse(CallId id, HttpResponse response) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& c = *it->second;
  c.http.reset();
  const SteadyTime now = dispatcher_.clock().now();
  const auto latency = std::chrono::duration_cast<microseconds>(now - c.started);
  EndpointState& ep = endpoints_[c.endpoint];
  Target& t = endpoints_.target(c.endpoint, c.model);
  --t.in_flight;
  const KeyState& key = ep.keys[c.key];
  const Reservation reservation = *c.reservation;
  const bool remote = std::exchange(c.remote_reservation, false);
  c.reservation.reset();

  const ProviderCodec& codec = codecFor(ep.config.provider);
  FailureClass fc = classify(response);
  std::optional<ApiReply> reply;
  if (fc == FailureClass::kNone) {
    reply = c.request.parse(codec, response.body);
    if (!reply) fc = FailureClass::kMalformed;
  }

  // Settle the reservation BEFORE the headers tighten the buckets: the provider's
  // "remaining" already counts this request's real usage, so a refund applied after the
  // sync would lift our level above what the provider just reported.
  if (fc == FailureClass::kNone) {
    const auto& usage = reply->usage;
    reconcileReservation(
        reservation, remote,
        usage ? std::optional<double>(static_cast<double>(usage->total())) : std::nullopt);
  } else if (fc == FailureClass::kRateLimited) {
    // The request counted against the provider's RPM; its tokens most likely did not.
    reconcileReservation(reservation, remote, 0.0);
  } else if (fc == FailureClass::kKeyInvalid) {
    releaseReservation(reservation, remote);
  } else {
    reconcileReservation(reservation, remote, std::nullopt);  // unknown usage: no refund
  }
  const RateLimitInfo limits =
      parseRateLimitHeaders(response.headers, dispatcher_.clock().wallNow());
  if (!limits.empty()) admission_.syncFromHeaders(key.pool, c.model, limits, now);
  c.trace.push_back({TraceEntry::Kind::kAttempt,
                     std::chrono::duration_cast<microseconds>(c.started - c.submitted),
                     ep.config.name, c.model, key.alias,
                     fc == FailureClass::kNone ? "ok" : std::string(toString(fc)), fc,
                     response.status, latency, 0});
  const bool trial = std::exchange(c.trial, false);

  if (fc == FailureClass::kNone) {
    const auto usage = reply->usage;
    t.breaker.onSuccess(now);
    t.latency.observe(latency, now);
    double cost = 0;
    if (auto p = config_.pricing.find(c.model); p != config_.pricing.end() && usage) {
      cost = (static_cast<double>(usage->input_tokens) * p->second.input_per_mtok +
              static_cast<double>(usage->output_tokens) * p->second.output_per_mtok) /
             1e6;
    }
    t.stats.recordSuccess(latency, usage ? usage->input_tokens : 0,
                          usage ? usage->output_tokens : 0, cost);
    if (attempt_observer_) {
      AttemptRecord record{ep.config.name,
                           c.model,
                           key.alias,
                           fc,
                           response.status,
                           latency,
                           usage ? usage->input_tokens : 0,
                           usage ? usage->output_tokens : 0,
                           cost,
                           milliseconds{0}};
      record.overhead = c.send_overhead + (dispatcher_.clock().now() - now);
      attempt_observer_(record);
    }
    ++total_success_;
    CallSuccess ok{std::move(reply->content),
                   std::move(reply->vectors),
                   c.model,
                   std::move(reply->provider_model),
                   ep.config.name,
                   key.alias,
                   latency,
                   sinceSubmit(c),
                   usage,
                   cost,
                   c.attempts};
    offerCapacityToFirstWaiter();  // a refund or a closed breaker may let one go now
    return finish(id, std::move(ok));
  }

  ++total_failures_;
  t.stats.recordFailure(fc, latency);
  if (response.error == TransportError::kNone) {
    c.last_message = codec.errorMessage(response.body);
    if (c.last_message.empty()) c.last_message = "HTTP " + std::to_string(response.status);
  } else {
    c.last_message = response.error_detail;
  }
  c.last_failure = fc;
  if (countsAgainstEndpoint(fc)) {
    t.breaker.onFailure(now);
  } else if (trial) {
    t.breaker.onAbandon(now);
  }
  milliseconds paused_for{0};
  // What the answer says of the key holds whatever becomes of this call, and must be in
  // place before any capacity is offered: a waiter must not go out on it.
  if (fc == FailureClass::kKeyInvalid) {
    ep.keys[c.key].invalid = true;  // other keys of this endpoint stay usable at once
  } else if (fc == FailureClass::kRateLimited) {
    const milliseconds pause = limits.pauseAfter429().value_or(kDefault429Pause);
    admission_.pauseUntil(key.pool, c.model, now + pause);
    if (remote) shared_.sharePause(key.pool, c.model, pause);
    paused_for = pause;
  }
  if (attempt_observer_) {
    AttemptRecord record{ep.config.name, c.model, key.alias, fc,  response.status,
                         latency,        0,       0,         0.0, paused_for};
    record.overhead = c.send_overhead + (dispatcher_.clock().now() - now);
    attempt_observer_(record);
  }
  // Before this call's own next step: a waiter was there first.
  if (fc == FailureClass::kRateLimited || fc == FailureClass::kKeyInvalid || trial) {
    offerCapacityToFirstWaiter();  // tokens refunded, or the trial slot freed
  }

  if (c.cancelled || fc == FailureClass::kCancelled) {
    return finish(id, CallFailure{CallErrorKind::kCancelled, "cancelled", 0, fc, std::nullopt,
                                  std::nullopt, c.attempts});
  }
  if (fc == FailureClass::kCallerError) {
    return finish(id, CallFailure{CallErrorKind::kCallerError, c.last_message, response.status, fc,
                                  std::nullopt, std::nullopt, c.attempts});
  }
  if (fc != FailureClass::kKeyInvalid && fc != FailureClass::kRateLimited) {
    const auto target_key = std::make_pair(c.endpoint, c.model);
    const int tries = ++c.tries[target_key];
    c.not_before[target_key] = now + backoff_.delay(tries - 1);
  }
  step(id);
}

}  // namespace celeriac::balancer
