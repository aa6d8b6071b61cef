// EtaScheduler (pipeline/eta_scheduler.h): held jobs leave at their time, in time order;
// taken or cleared ones never do.

#include "worker/app/pipeline/eta_scheduler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_loop.h"

namespace celeriac::worker::app::pipeline {
namespace {

using std::chrono::milliseconds;

class EtaSchedulerTest : public ::testing::Test {
 protected:
  static std::unique_ptr<Job> job(JobId id, const std::string& task) {
    auto j = std::make_unique<Job>();
    j->id = id;
    j->message.task = task;
    return j;
  }

  testing::FakeDispatcher loop_;
  std::vector<JobId> due_;
  EtaScheduler scheduler_{loop_, [this](std::unique_ptr<Job> j) { due_.push_back(j->id); }};
};

TEST_F(EtaSchedulerTest, JobsLeaveAtTheirTimeInTimeOrder) {
  scheduler_.hold(job(1, "a"), milliseconds(300));
  scheduler_.hold(job(2, "a"), milliseconds(100));
  EXPECT_EQ(scheduler_.size(), 2u);
  loop_.advance(milliseconds(99));
  EXPECT_TRUE(due_.empty());
  loop_.advance(milliseconds(1));
  EXPECT_EQ(due_, std::vector<JobId>{2});
  EXPECT_EQ(scheduler_.size(), 1u);
  loop_.advance(milliseconds(200));
  EXPECT_EQ(due_, (std::vector<JobId>{2, 1}));
  EXPECT_EQ(scheduler_.size(), 0u);
}

TEST_F(EtaSchedulerTest, TakenJobsLeaveEarlyAndTheirTimersAreCancelled) {
  scheduler_.hold(job(1, "a"), milliseconds(100));
  scheduler_.hold(job(2, "b"), milliseconds(100));
  std::vector<std::string> visited;
  scheduler_.forEach([&](const Job& j) { visited.push_back(j.message.task); });
  EXPECT_EQ(visited.size(), 2u);
  auto taken = scheduler_.take([](const Job& j) { return j.message.task == "b"; });
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0]->id, 2u);
  EXPECT_EQ(loop_.pendingTimers(), 1u);
  loop_.advance(milliseconds(100));
  EXPECT_EQ(due_, std::vector<JobId>{1});
}

TEST_F(EtaSchedulerTest, ClearAndDestructionCancelEveryTimer) {
  scheduler_.hold(job(1, "a"), milliseconds(100));
  scheduler_.clear();
  EXPECT_EQ(scheduler_.size(), 0u);
  EXPECT_EQ(loop_.pendingTimers(), 0u);
  {
    EtaScheduler other(loop_, [this](std::unique_ptr<Job> j) { due_.push_back(j->id); });
    other.hold(job(3, "c"), milliseconds(100));
  }
  EXPECT_EQ(loop_.pendingTimers(), 0u);
  loop_.advance(milliseconds(200));
  EXPECT_TRUE(due_.empty());
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline
