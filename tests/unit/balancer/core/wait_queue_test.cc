// WaitQueue on its own: wake-ups at their time through one timer, priority then arrival
// among calls due together and for offers, a failed offer keeping the waiter's place,
// and no call back once removed or destroyed. Time is the FakeDispatcher's ManualClock.
#include "core/wait_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <vector>

#include "fake_loop.h"

namespace celeriac::balancer {
namespace {

using celeriac::testing::FakeDispatcher;
using std::chrono::milliseconds;
using std::chrono::seconds;

class WaitQueueTest : public ::testing::Test {
 protected:
  SteadyTime in(milliseconds delay) const { return loop_.clock().now() + delay; }

  FakeDispatcher loop_;
  std::vector<CallId> woken_;
  std::optional<WaitQueue> queue_{std::in_place, loop_,
                                  [this](CallId id) { woken_.push_back(id); }};
};

TEST_F(WaitQueueTest, EachWaiterWakesAtItsTimeAndLeavesTheQueue) {
  queue_->add(1, in(seconds(2)), 0);
  queue_->add(2, in(seconds(1)), 0);
  loop_.runReady();
  EXPECT_TRUE(woken_.empty()) << "nothing wakes inside add() or before its time";
  loop_.advance(milliseconds(999));
  EXPECT_TRUE(woken_.empty());
  loop_.advance(milliseconds(1));
  EXPECT_EQ(woken_, (std::vector<CallId>{2}));
  EXPECT_EQ(queue_->size(), 1u);
  loop_.advance(seconds(1));
  EXPECT_EQ(woken_, (std::vector<CallId>{2, 1}));
  EXPECT_TRUE(queue_->empty());
}

TEST_F(WaitQueueTest, CallsDueTogetherWakeHigherPriorityFirstThenFirstCome) {
  queue_->add(1, in(seconds(1)), 0);
  queue_->add(2, in(milliseconds(500)), 5);
  queue_->add(3, in(milliseconds(800)), 0);
  queue_->add(4, in(seconds(1)), 5);
  loop_.manualClock().advance(seconds(2));  // a late timer: all four due at one firing
  loop_.runReady();
  EXPECT_EQ(woken_, (std::vector<CallId>{2, 4, 1, 3}));
}

TEST_F(WaitQueueTest, AnEarlierWaiterMovesTheOneTimerForward) {
  queue_->add(1, in(seconds(10)), 0);
  queue_->add(2, in(seconds(1)), 0);
  EXPECT_EQ(loop_.pendingTimers(), 1u) << "one timer for the whole queue";
  loop_.advance(seconds(1));
  EXPECT_EQ(woken_, (std::vector<CallId>{2}));
  EXPECT_EQ(loop_.pendingTimers(), 1u) << "re-armed for the waiter left";
}

TEST_F(WaitQueueTest, TheLastWaiterRemovedCancelsTheTimer) {
  const WaitQueue::Place place = queue_->add(1, in(seconds(1)), 0);
  queue_->remove(place);
  EXPECT_EQ(loop_.pendingTimers(), 0u);
}

TEST_F(WaitQueueTest, AWakeThatQueuesAgainIsWokenAgainLater) {
  // The Balancer's use: a woken call that still cannot start waits again.
  std::optional<WaitQueue> queue;
  std::vector<CallId> woken;
  queue.emplace(loop_, [&](CallId id) {
    woken.push_back(id);
    if (woken.size() == 1) queue->add(id, in(seconds(5)), 0);
  });
  queue->add(7, in(seconds(1)), 0);
  loop_.advance(seconds(1));
  EXPECT_EQ(woken, (std::vector<CallId>{7}));
  EXPECT_EQ(queue->size(), 1u);
  EXPECT_EQ(loop_.pendingTimers(), 1u);
  loop_.advance(seconds(5));
  EXPECT_EQ(woken, (std::vector<CallId>{7, 7}));
  EXPECT_TRUE(queue->empty());
}

TEST_F(WaitQueueTest, ARemovedWaiterNeverWakes) {
  const WaitQueue::Place place = queue_->add(1, in(seconds(1)), 0);
  queue_->add(2, in(seconds(2)), 0);
  queue_->remove(place);
  loop_.advance(seconds(3));
  EXPECT_EQ(woken_, (std::vector<CallId>{2}));
}

TEST_F(WaitQueueTest, CapacityGoesFirstToTheHighestPriorityThenFirstCome) {
  queue_->add(1, in(seconds(1)), 0);
  queue_->add(2, in(seconds(9)), 3);
  queue_->add(3, in(seconds(5)), 3);
  ASSERT_TRUE(queue_->first());
  EXPECT_EQ(queue_->first()->id, 2u) << "priority, then arrival; not the wake time";
}

TEST_F(WaitQueueTest, AnOfferThatStartsTakesTheWaiterOut) {
  const WaitQueue::Place place = queue_->add(1, in(seconds(1)), 0);
  bool ran = false;
  EXPECT_TRUE(queue_->offer(place, [&] {
    ran = true;
    return true;
  }));
  EXPECT_TRUE(ran);
  EXPECT_TRUE(queue_->empty());
  loop_.advance(seconds(2));
  EXPECT_TRUE(woken_.empty());
}

TEST_F(WaitQueueTest, AnOfferThatCannotStartKeepsTheWaitersPlaceAndTime) {
  const WaitQueue::Place first = queue_->add(1, in(seconds(1)), 0);
  queue_->add(2, in(seconds(1)), 0);
  std::size_t size_during = 99;
  EXPECT_FALSE(queue_->offer(first, [&] {
    size_during = queue_->size();
    return false;
  }));
  EXPECT_EQ(size_during, 1u) << "out of the queue while it tries";
  ASSERT_TRUE(queue_->first());
  EXPECT_EQ(queue_->first()->id, 1u) << "still ahead of the later waiter";
  loop_.advance(seconds(1));
  EXPECT_EQ(woken_, (std::vector<CallId>{1, 2}));
}

TEST_F(WaitQueueTest, DestroyedItsTimerNeverCallsBack) {
  queue_->add(1, in(seconds(1)), 0);
  queue_.reset();
  loop_.advance(seconds(2));
  EXPECT_TRUE(woken_.empty());
}

}  // namespace
}  // namespace celeriac::balancer
