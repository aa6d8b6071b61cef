#include "worker/metrics/health_state.h"

#include <fmt/format.h>

namespace celeriac::worker::metrics {

ProbeAnswer HealthState::healthz(Clock::time_point now) const {
  const std::int64_t stamp = heartbeat_ns_.load();
  if (stamp == 0) return {503, "event loop not started"};
  const auto age = std::chrono::nanoseconds(toNs(now) - stamp);
  if (age > stall_after_) {
    return {503, fmt::format("event loop stalled: last turn {} ms ago",
                             std::chrono::duration_cast<std::chrono::milliseconds>(age).count())};
  }
  return {200, "ok"};
}

ProbeAnswer HealthState::readyz() const {
  if (shutting_down_.load()) return {503, "shutting down: consumers cancelled"};
  if (!broker_open_.load()) return {503, "broker connection not open"};
  if (!store_connected_.load()) return {503, "result backend (Redis) not connected"};
  if (store_backlog_full_.load()) return {503, "result backend backlog full"};
  return {200, "ok"};
}

}  // namespace celeriac::worker::metrics
