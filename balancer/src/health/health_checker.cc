#include "health/health_checker.h"

#include <algorithm>

namespace celeriac::balancer {

HealthChecker::HealthChecker(HealthCheckConfig config, Dispatcher& dispatcher,
                             HttpTransport& transport, std::vector<HttpRequest> probes)
    : config_(std::move(config)),
      dispatcher_(dispatcher),
      transport_(transport),
      probes_(std::move(probes)),
      state_(probes_.size()) {
  // A probe never outlives its round, so rounds never pile up on a hung endpoint.
  const auto timeout =
      std::max(std::min(config_.timeout, config_.interval), std::chrono::milliseconds(1));
  for (HttpRequest& p : probes_) {
    p.total_timeout = timeout;
    p.connect_timeout = std::min(p.connect_timeout, timeout);
  }
}

HealthChecker::~HealthChecker() {
  lifetime_.revoke();
  if (timer_ != 0) dispatcher_.cancel(timer_);
  for (const State& s : state_) {
    if (s.in_flight) transport_.cancel(*s.in_flight);
  }
}

void HealthChecker::start() {
  next_round_ = dispatcher_.clock().now();
  dispatcher_.post(lifetime_.guard([this] { round(); }));
}

void HealthChecker::round() {
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    if (state_[i].in_flight) continue;
    state_[i].in_flight =
        transport_.send(probes_[i], lifetime_.guard([this, i](HttpResponse r) { onProbe(i, r); }));
  }
  next_round_ = dispatcher_.clock().now() + config_.interval;
  timer_ = dispatcher_.schedule(config_.interval, lifetime_.guard([this] {
    timer_ = 0;
    round();
  }));
}

void HealthChecker::onProbe(std::size_t endpoint, const HttpResponse& response) {
  State& s = state_[endpoint];
  s.in_flight.reset();
  if (response.error == TransportError::kCancelled) return;
  ++s.probes;
  const bool ok = response.error == TransportError::kNone && response.status < 500;
  if (ok) {
    s.failures_in_row = 0;
    if (++s.successes_in_row >= config_.healthy_after) s.healthy = true;
  } else {
    ++s.failures;
    s.successes_in_row = 0;
    if (++s.failures_in_row >= config_.unhealthy_after) s.healthy = false;
  }
}

nlohmann::json HealthChecker::stats(std::size_t endpoint) const {
  const State& s = state_.at(endpoint);
  return {{"healthy", s.healthy},
          {"probes", s.probes},
          {"probe_failures", s.failures},
          {"consecutive_failures", s.failures_in_row}};
}

}  // namespace celeriac::balancer
