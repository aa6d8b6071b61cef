// The test loop itself: every integration test's bounded waits rest on it.

#include "test_loop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

namespace celeriac::testing::integration {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The thread often works between two runs of the loop (a blocking rabbitmqctl call, a
// process start), and libuv's cached time stays where the last run left it. A deadline
// counted from that stale time fired at once, so runFor(3 s) after a 4 s rabbitmqctl
// call ran the loop for no time at all: CI saw a timer tick once instead of 300 times.
TEST(TestLoopTest, RunForCountsFromTheCallNotFromTheLoopsLastTurn) {
  TestLoop loop;
  loop.runFor(milliseconds(1));
  std::this_thread::sleep_for(milliseconds(300));
  const auto before = steady_clock::now();
  loop.runFor(milliseconds(200));
  EXPECT_GE(steady_clock::now() - before, milliseconds(200));
  EXPECT_EQ(loop.close(), 0);
}

TEST(TestLoopTest, RunUntilStopsAsSoonAsATimerMakesTheConditionTrue) {
  TestLoop loop;
  bool fired = false;
  uv_timer_t timer;
  uv_timer_init(loop.get(), &timer);
  timer.data = &fired;
  uv_timer_start(
      &timer, [](uv_timer_t* t) noexcept { *static_cast<bool*>(t->data) = true; }, 50, 0);
  const auto before = steady_clock::now();
  EXPECT_TRUE(loop.runUntil([&fired] { return fired; }, milliseconds(5000)));
  EXPECT_LT(steady_clock::now() - before, milliseconds(2000));
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  EXPECT_EQ(loop.close(), 0);
}

// A client destroyed while its getaddrinfo runs in the thread pool cannot cancel it; the
// request ends on its own. That is not a handle left open: CI once saw close() report
// one because the lookup outlasted close()'s few non-blocking turns on a loaded machine.
TEST(TestLoopTest, ARequestStillInTheThreadPoolIsWaitedForNotReportedAsALeak) {
  TestLoop loop;
  bool finished = false;
  uv_work_t work{};
  work.data = &finished;
  ASSERT_EQ(uv_queue_work(
                loop.get(), &work,
                [](uv_work_t*) noexcept { std::this_thread::sleep_for(milliseconds(300)); },
                [](uv_work_t* w, int) noexcept { *static_cast<bool*>(w->data) = true; }),
            0);
  EXPECT_EQ(loop.close(), 0);
  EXPECT_TRUE(finished);
}

TEST(TestLoopTest, AHandleLeftOpenIsReported) {
  TestLoop loop;
  auto timer = std::make_unique<uv_timer_t>();  // close() closes it after reporting
  uv_timer_init(loop.get(), timer.get());
  EXPECT_EQ(loop.close(), UV_EBUSY);
}

}  // namespace
}  // namespace celeriac::testing::integration
