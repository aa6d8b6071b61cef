// UvDispatcher on a real libuv loop: posted work runs on a later turn and in order, a
// callback that posts again cannot starve the loop, timers fire in deadline order and
// not before their delay, cancel() stops one, and destroying the dispatcher drops what
// is pending and leaves no handle open.

#include "worker/uv/uv_dispatcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "test_loop.h"

namespace celeriac::worker::uv {
namespace {

using celeriac::testing::integration::TestLoop;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(UvDispatcherTest, PostedWorkRunsOnALaterTurnInOrder) {
  TestLoop loop;
  {
    UvDispatcher dispatcher(loop.get());
    std::vector<int> ran;
    dispatcher.post([&ran] { ran.push_back(1); });
    dispatcher.post([&ran] { ran.push_back(2); });
    EXPECT_TRUE(ran.empty()) << "post() ran its callback inline";
    EXPECT_TRUE(loop.runUntil([&ran] { return ran.size() == 2; }, milliseconds(2000)));
    EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  }
  EXPECT_EQ(loop.close(), 0);
}

// A callback that posts itself again runs once per turn, so timers (and I/O) still get
// their turn in between.
TEST(UvDispatcherTest, ACallbackThatRepostsItselfDoesNotStarveTimers) {
  TestLoop loop;
  {
    UvDispatcher dispatcher(loop.get());
    int turns = 0;
    bool timer_fired = false;
    std::function<void()> again = [&] {
      ++turns;
      if (!timer_fired) dispatcher.post(again);
    };
    dispatcher.post(again);
    dispatcher.schedule(milliseconds(20), [&timer_fired] { timer_fired = true; });
    EXPECT_TRUE(loop.runUntil([&timer_fired] { return timer_fired; }, milliseconds(5000)));
    EXPECT_GT(turns, 1);
    loop.runFor(milliseconds(10));  // the last re-post runs, and posts no more
  }
  EXPECT_EQ(loop.close(), 0);
}

// libuv counts a timer's delay in whole milliseconds from the loop's cached time, which
// can trail the real time by up to a millisecond: so "not before" allows that one.
constexpr milliseconds kLibuvTick{1};

TEST(UvDispatcherTest, TimersFireInDeadlineOrderAndNotBeforeTheirDelay) {
  const auto start = steady_clock::now();  // before the loop caches its time
  TestLoop loop;
  {
    UvDispatcher dispatcher(loop.get());
    std::vector<std::string> fired;
    steady_clock::time_point late_at{};
    dispatcher.schedule(milliseconds(60), [&] {
      fired.push_back("late");
      late_at = steady_clock::now();
    });
    dispatcher.schedule(milliseconds(10), [&fired] { fired.push_back("early"); });
    dispatcher.schedule(milliseconds(-5), [&fired] { fired.push_back("now"); });
    EXPECT_EQ(dispatcher.pendingTimers(), 3u);
    EXPECT_TRUE(loop.runUntil([&fired] { return fired.size() == 3; }, milliseconds(5000)));
    EXPECT_EQ(fired, (std::vector<std::string>{"now", "early", "late"}));
    EXPECT_GE(late_at - start, milliseconds(60) - kLibuvTick);
    EXPECT_EQ(dispatcher.pendingTimers(), 0u);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(UvDispatcherTest, ACancelledTimerNeverFiresAndCancellingTwiceIsHarmless) {
  TestLoop loop;
  {
    UvDispatcher dispatcher(loop.get());
    bool cancelled_fired = false;
    bool other_fired = false;
    const common::TimerId id =
        dispatcher.schedule(milliseconds(10), [&cancelled_fired] { cancelled_fired = true; });
    dispatcher.schedule(milliseconds(40), [&other_fired] { other_fired = true; });
    dispatcher.cancel(id);
    dispatcher.cancel(id);
    dispatcher.cancel(987654);  // never scheduled
    EXPECT_EQ(dispatcher.pendingTimers(), 1u);
    EXPECT_TRUE(loop.runUntil([&other_fired] { return other_fired; }, milliseconds(5000)));
    EXPECT_FALSE(cancelled_fired);
  }
  EXPECT_EQ(loop.close(), 0);
}

// A timer may cancel itself or schedule another from its own callback.
TEST(UvDispatcherTest, ATimerCallbackMayScheduleAndCancelFromInside) {
  TestLoop loop;
  {
    UvDispatcher dispatcher(loop.get());
    common::TimerId self = 0;
    bool second = false;
    self = dispatcher.schedule(milliseconds(5), [&] {
      dispatcher.cancel(self);  // already fired: nothing to cancel
      dispatcher.schedule(milliseconds(5), [&second] { second = true; });
    });
    EXPECT_TRUE(loop.runUntil([&second] { return second; }, milliseconds(5000)));
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(UvDispatcherTest, DestroyingItDropsPendingWorkAndLeavesNoHandleOpen) {
  TestLoop loop;
  bool ran = false;
  {
    UvDispatcher dispatcher(loop.get());
    dispatcher.post([&ran] { ran = true; });
    dispatcher.schedule(milliseconds(1), [&ran] { ran = true; });
    dispatcher.schedule(milliseconds(100000), [&ran] { ran = true; });
  }
  loop.runFor(milliseconds(20));
  EXPECT_FALSE(ran);
  EXPECT_EQ(loop.close(), 0);
}

TEST(UvDispatcherTest, NowIsMonotonicWithSubMillisecondStepsAndWallNowIsTheSystemClock) {
  TestLoop loop;
  {
    UvDispatcher dispatcher(loop.get());
    const common::SteadyTime a = dispatcher.now();
    const common::SteadyTime b = dispatcher.now();
    EXPECT_LE(a, b);
    uv_update_time(loop.get());  // after `a`: the timer below counts from no earlier than `a`
    bool done = false;
    dispatcher.schedule(milliseconds(15), [&done] { done = true; });
    EXPECT_TRUE(loop.runUntil([&done] { return done; }, milliseconds(5000)));
    EXPECT_GE(dispatcher.now() - a, milliseconds(15) - kLibuvTick);
    const auto wall = dispatcher.wallNow();
    EXPECT_LT(std::chrono::abs(wall - std::chrono::system_clock::now()), std::chrono::seconds(1));
  }
  EXPECT_EQ(loop.close(), 0);
}

}  // namespace
}  // namespace celeriac::worker::uv
