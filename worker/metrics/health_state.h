#pragma once
// HealthState: what /healthz and /readyz answer, shared between the loop (the only
// writer) and the HTTP server's threads (readers).
//
//   /healthz  liveness: the loop is turning. A 1 s timer on the loop stamps
//             heartbeat(); the probe fails once the last stamp is older than
//             `stall_after`. Never a broker or Redis check: an outage of either must not
//             get the pod restarted (it reconnects by itself).
//   /readyz   readiness: consuming (broker connection open, consumers not cancelled by
//             shutdown) AND results writable (Redis connected, backlog under its cap).
//
// Every field is a std::atomic written on the loop; answer() reads them from any
// thread and touches no loop object. Time comes in as an argument, so the decisions
// are unit-tested without a clock or a socket.

#include <atomic>
#include <chrono>
#include <string>

namespace celeriac::worker::metrics {

struct ProbeAnswer {
  int status = 200;  // 200 or 503
  std::string body;  // one short line, "ok" or why not
};

class HealthState {
 public:
  using Clock = std::chrono::steady_clock;

  explicit HealthState(std::chrono::milliseconds stall_after = std::chrono::seconds(10))
      : stall_after_(stall_after) {}

  // Loop thread.
  void heartbeat(Clock::time_point now) { heartbeat_ns_.store(toNs(now)); }
  void setBrokerOpen(bool open) { broker_open_.store(open); }
  void setShuttingDown(bool down) { shutting_down_.store(down); }
  void setStoreConnected(bool connected) { store_connected_.store(connected); }
  void setStoreBacklogFull(bool full) { store_backlog_full_.store(full); }

  // Any thread.
  [[nodiscard]] ProbeAnswer healthz(Clock::time_point now) const;
  [[nodiscard]] ProbeAnswer readyz() const;

 private:
  static std::int64_t toNs(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }

  const std::chrono::milliseconds stall_after_;
  std::atomic<std::int64_t> heartbeat_ns_{0};  // 0: the loop has not turned yet
  std::atomic<bool> broker_open_{false};
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> store_connected_{false};
  std::atomic<bool> store_backlog_full_{false};
};

}  // namespace celeriac::worker::metrics
