// HealthState: what /healthz and /readyz answer, decided from atomics the loop writes.

#include "worker/metrics/health_state.h"

#include <gtest/gtest.h>

namespace celeriac::worker::metrics {
namespace {

using namespace std::chrono_literals;
using Clock = HealthState::Clock;

TEST(HealthStateTest, HealthzFailsUntilTheLoopHasTurned) {
  HealthState h(10s);
  EXPECT_EQ(h.healthz(Clock::now()).status, 503);
}

TEST(HealthStateTest, HealthzPassesWhileTheHeartbeatIsFreshAndFailsOnceItIsStale) {
  HealthState h(10s);
  const auto t0 = Clock::now();
  h.heartbeat(t0);
  EXPECT_EQ(h.healthz(t0 + 9s).status, 200);
  const ProbeAnswer stale = h.healthz(t0 + 11s);
  EXPECT_EQ(stale.status, 503);
  EXPECT_NE(stale.body.find("stalled"), std::string::npos) << stale.body;
  h.heartbeat(t0 + 11s);
  EXPECT_EQ(h.healthz(t0 + 12s).status, 200);
}

TEST(HealthStateTest, HealthzIgnoresTheBrokerAndRedis) {
  HealthState h(10s);
  const auto t0 = Clock::now();
  h.heartbeat(t0);
  h.setBrokerOpen(false);
  h.setStoreConnected(false);
  EXPECT_EQ(h.healthz(t0).status, 200);
}

TEST(HealthStateTest, ReadyzNeedsTheBrokerOpenAndRedisWritable) {
  HealthState h;
  EXPECT_EQ(h.readyz().status, 503);  // nothing connected yet
  h.setBrokerOpen(true);
  const ProbeAnswer no_redis = h.readyz();
  EXPECT_EQ(no_redis.status, 503);
  EXPECT_NE(no_redis.body.find("Redis"), std::string::npos) << no_redis.body;
  h.setStoreConnected(true);
  EXPECT_EQ(h.readyz().status, 200);
  h.setStoreBacklogFull(true);
  EXPECT_NE(h.readyz().body.find("backlog"), std::string::npos);
  EXPECT_EQ(h.readyz().status, 503);
  h.setStoreBacklogFull(false);
  h.setBrokerOpen(false);
  EXPECT_NE(h.readyz().body.find("broker"), std::string::npos);
  h.setBrokerOpen(true);
  h.setShuttingDown(true);
  EXPECT_EQ(h.readyz().status, 503);
  EXPECT_NE(h.readyz().body.find("shutting down"), std::string::npos);
}

}  // namespace
}  // namespace celeriac::worker::metrics
