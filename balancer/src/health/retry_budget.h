#pragma once
// RetryBudget: caps retries sent to one endpoint at a share of its recent requests.
//
// For: keeping an outage from becoming a retry storm (Finagle's RetryBudget, gRPC's
// retry throttling): first attempts are always allowed; a retry is allowed only while
// retries in the window stay <= ratio x first attempts in the window, plus a small
// floor so that a quiet endpoint can still retry at all. The window is a ring of
// one-second slots. Not for: choosing delays (Backoff) or the per-call attempt cap
// (Balancer). Not thread-safe; time passed in.

#include <array>
#include <chrono>
#include <cstdint>

#include "balancer/config.h"  // the options
#include "common/clock.h"

namespace celeriac::balancer {

class RetryBudget {
 public:
  static constexpr int kMaxSlots = RetryBudgetOptions::kMaxWindowSeconds;

  explicit RetryBudget(RetryBudgetOptions options = {});

  void recordRequest(SteadyTime now);           // a first attempt was sent
  [[nodiscard]] bool canRetry(SteadyTime now);  // may a retry be sent now?
  void recordRetry(SteadyTime now);             // a retry was sent

  [[nodiscard]] std::int64_t requestsInWindow(SteadyTime now);
  [[nodiscard]] std::int64_t retriesInWindow(SteadyTime now);

 private:
  struct Slot {
    std::int64_t second = -1;
    std::int64_t requests = 0;
    std::int64_t retries = 0;
  };
  Slot& current(SteadyTime now);
  static std::int64_t secondOf(SteadyTime now);

  RetryBudgetOptions options_;
  std::array<Slot, kMaxSlots> slots_{};
};

}  // namespace celeriac::balancer
