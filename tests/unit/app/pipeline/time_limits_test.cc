// Time limits (pipeline/time_limits.h): Celery's order (message, task, worker), what
// counts as no limit, and the timers of one run.

#include "worker/app/pipeline/time_limits.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "fake_loop.h"

namespace celeriac::worker::app::pipeline {
namespace {

using std::chrono::milliseconds;

celery::TaskMessage message(const std::string& task, std::optional<double> soft,
                            std::optional<double> hard) {
  celery::TaskMessage m;
  m.task = task;
  m.time_limits.soft_s = soft;
  m.time_limits.hard_s = hard;
  return m;
}

TEST(TimeLimitsTest, TheMessageWinsThenTheTaskThenTheWorker) {
  TimeLimits limits(5.0, 10.0);
  limits.setForTask("slow", 50.0, std::nullopt);
  EXPECT_EQ(limits.soft(message("slow", 1.0, std::nullopt)), 1.0);
  EXPECT_EQ(limits.soft(message("slow", std::nullopt, std::nullopt)), 50.0);
  EXPECT_EQ(limits.hard(message("slow", std::nullopt, std::nullopt)), 10.0);  // task sets none
  EXPECT_EQ(limits.soft(message("other", std::nullopt, std::nullopt)), 5.0);
  EXPECT_EQ(limits.hard(message("other", std::nullopt, 2.5)), 2.5);
  TimeLimits none(std::nullopt, std::nullopt);
  EXPECT_EQ(none.hard(message("other", std::nullopt, std::nullopt)), std::nullopt);
}

TEST(TimeLimitsTest, NoneZeroNegativeAndHugeLimitsAreNoLimit) {
  EXPECT_EQ(limitDelay(1.5), milliseconds(1500));
  EXPECT_EQ(limitDelay(std::nullopt), std::nullopt);
  EXPECT_EQ(limitDelay(0.0), std::nullopt);
  EXPECT_EQ(limitDelay(-1.0), std::nullopt);
  EXPECT_EQ(limitDelay(1e9), std::nullopt);
  EXPECT_EQ(limitDelay(1e308), std::nullopt);
}

TEST(TimeLimitTimersTest, ArmedTimersReportTheJobAndDisarmCancelsThem) {
  testing::FakeDispatcher loop;
  std::vector<std::pair<JobId, bool>> hits;
  TimeLimitTimers timers(loop, [&](JobId id, bool hard) { hits.emplace_back(id, hard); });
  Job job;
  job.id = 7;
  timers.arm(job, 1.0, 2.0);
  EXPECT_NE(job.soft_limit_timer, 0u);
  loop.advance(milliseconds(1000));
  EXPECT_EQ(hits, (std::vector<std::pair<JobId, bool>>{{7, false}}));
  loop.advance(milliseconds(1000));
  EXPECT_EQ(hits.size(), 2u);
  EXPECT_TRUE(hits[1].second);

  Job other;
  other.id = 8;
  timers.arm(other, std::nullopt, 1.0);
  EXPECT_EQ(other.soft_limit_timer, 0u);
  timers.disarm(other);
  EXPECT_EQ(loop.pendingTimers(), 0u);
  loop.advance(milliseconds(5000));
  EXPECT_EQ(hits.size(), 2u);
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline
