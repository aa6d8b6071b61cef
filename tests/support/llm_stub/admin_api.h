#pragma once
// AdminApi: the stub's run-time control surface under /admin (see README.md).
//
// For: arming and clearing faults, reading and zeroing the counters, and changing the
// latency and limits while the stub runs. Not for: API traffic (Router). Borrows the
// Router's state; lives and dies with the Router on the loop thread.

#include "fault_plan.h"
#include "http_message.h"
#include "rate_counter.h"
#include "reply.h"
#include "stub_config.h"
#include "stub_stats.h"

namespace celeriac::testing::stub {

class AdminApi {
 public:
  AdminApi(StubConfig& config, FaultPlan& faults, RateCounter& counter, StubStats& stats)
      : config_(config), faults_(faults), counter_(counter), stats_(stats) {}

  // Answers any request whose path starts with "/admin/" (404 for unknown ones).
  Reply handle(const HttpRequest& request);

 private:
  Reply addFaults(const HttpRequest& request);
  Reply updateConfig(const HttpRequest& request);
  [[nodiscard]] nlohmann::json configJson() const;
  [[nodiscard]] nlohmann::json statsJson() const;

  StubConfig& config_;
  FaultPlan& faults_;
  RateCounter& counter_;
  StubStats& stats_;
};

}  // namespace celeriac::testing::stub
