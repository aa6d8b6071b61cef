#include "worker/amqp/consumer_window.h"

#include <gtest/gtest.h>

namespace celeriac::worker::amqp {
namespace {

using std::chrono::milliseconds;
using TimePoint = ConsumerWindow::TimePoint;

class ConsumerWindowTest : public ::testing::Test {
 protected:
  TimePoint t0 = TimePoint{} + std::chrono::hours(1);
  TimePoint later(int ms) { return t0 + milliseconds(ms); }

  static void deliver(ConsumerWindow& w, int n, std::uint64_t epoch, std::size_t slot = 0) {
    for (int i = 0; i < n; ++i) w.delivered(slot, epoch);
  }
  static void settle(ConsumerWindow& w, int n, std::uint64_t epoch, std::size_t slot = 0) {
    for (int i = 0; i < n; ++i) w.settled(slot, epoch);
  }
};

TEST_F(ConsumerWindowTest, NothingChangesWhileTheWantedPrefetchStaysTheSame) {
  ConsumerWindow w;
  w.reset(2, 10, t0);
  deliver(w, 10, 0);
  settle(w, 4, 0);
  w.setWanted(10);
  EXPECT_TRUE(w.plan(later(5000)).empty());
}

// The case: -c 10 --prefetch-multiplier 1, ten countdown tasks held. Each held
// task raises the wanted prefetch by one, as Celery does; the new consumer gets
// exactly the ten slots the held tasks do not use, not twenty.
TEST_F(ConsumerWindowTest, HeldTasksRaiseThePrefetchByRecreatingTheConsumerCompensated) {
  ConsumerWindow w;
  w.reset(1, 10, t0);
  deliver(w, 10, 0);
  w.setWanted(20);
  const auto steps = w.plan(later(1000));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].slot, 0u);
  EXPECT_TRUE(steps[0].cancel_current);
  EXPECT_EQ(steps[0].epoch, 1u);
  ASSERT_TRUE(steps[0].prefetch.has_value());
  EXPECT_EQ(*steps[0].prefetch, 10);
  EXPECT_EQ(w.unacked(0), 10u);
  EXPECT_EQ(w.epoch(0), 1u);
}

TEST_F(ConsumerWindowTest, OneMoreHeldTaskOnAFullWindowGivesOneSlot) {
  ConsumerWindow w;
  w.reset(1, 10, t0);
  deliver(w, 10, 0);
  w.setWanted(11);
  const auto steps = w.plan(later(1000));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(*steps[0].prefetch, 1);
}

TEST_F(ConsumerWindowTest, ABurstOfChangesIsOneRecreationPerInterval) {
  ConsumerWindow w;
  w.reset(1, 10, t0);
  deliver(w, 1, 0);
  w.setWanted(11);
  ASSERT_EQ(w.plan(later(1000)).size(), 1u);  // epoch 1, prefetch 10
  deliver(w, 1, 1);
  w.setWanted(12);
  EXPECT_TRUE(w.plan(later(1050)).empty());
  ASSERT_TRUE(w.retryAt().has_value());
  EXPECT_EQ(*w.retryAt(), later(1000) + ConsumerWindow::kMinInterval);
  deliver(w, 1, 1);
  w.setWanted(13);
  const auto steps = w.plan(*w.retryAt());
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(*steps[0].prefetch, 10);  // 13 wanted - 3 held
  EXPECT_FALSE(w.retryAt().has_value());
}

TEST_F(ConsumerWindowTest, LoweringBelowWhatIsUnackedPausesUntilItDrains) {
  ConsumerWindow w;
  w.reset(1, 40, t0);
  deliver(w, 5, 0);
  w.setWanted(1);  // every model is down: backpressure
  auto steps = w.plan(later(1000));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_TRUE(steps[0].cancel_current);
  EXPECT_FALSE(steps[0].prefetch.has_value());
  EXPECT_FALSE(w.consuming(0));
  settle(w, 4, 0);
  EXPECT_TRUE(w.plan(later(2000)).empty());  // one still unacked: no room
  settle(w, 1, 0);
  steps = w.plan(later(3000));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_FALSE(steps[0].cancel_current);  // nothing to cancel: it was paused
  EXPECT_EQ(*steps[0].prefetch, 1);
  EXPECT_TRUE(w.consuming(0));
}

TEST_F(ConsumerWindowTest, LoweringWithRoomLeftRecreatesWithTheSmallerPrefetch) {
  ConsumerWindow w;
  w.reset(1, 40, t0);
  deliver(w, 2, 0);
  w.setWanted(10);
  const auto steps = w.plan(later(1000));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(*steps[0].prefetch, 8);
}

TEST_F(ConsumerWindowTest, RecreatesOnceOldConsumersDrainEnoughToMatter) {
  ConsumerWindow w;
  w.reset(1, 10, t0);
  deliver(w, 10, 0);
  w.setWanted(11);
  ASSERT_EQ(*w.plan(later(1000))[0].prefetch, 1);
  // The held tasks become due and finish (wanted back to 10): the old consumer's
  // deliveries drain and the window grows back without waiting for a change.
  w.setWanted(10);
  auto steps = w.plan(later(2000));  // wanted changed: 10 - 10 unacked = pause
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_FALSE(steps[0].prefetch.has_value());
  settle(w, 2, 0);  // a quarter of the window is free: consume again with it
  steps = w.plan(later(3000));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_FALSE(steps[0].cancel_current);
  EXPECT_EQ(*steps[0].prefetch, 2);
  settle(w, 8, 0);  // the old consumer's deliveries are all done: the full window
  steps = w.plan(later(4000));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_TRUE(steps[0].cancel_current);
  EXPECT_EQ(*steps[0].prefetch, 10);
  EXPECT_TRUE(w.plan(later(5000)).empty());
}

TEST_F(ConsumerWindowTest, KeepsTheConsumerWhenItAlreadyHasExactlyTheRoomWanted) {
  ConsumerWindow w;
  w.reset(1, 10, t0);
  deliver(w, 10, 0);
  w.setWanted(20);
  ASSERT_EQ(*w.plan(later(1000))[0].prefetch, 10);  // epoch 1: 10 old + 10 new
  // One held task became due and was acked: wanted 19, 9 old unacked. The current
  // consumer's 10 slots are exactly the room wanted.
  settle(w, 1, 0);
  w.setWanted(19);
  EXPECT_TRUE(w.plan(later(2000)).empty());
  EXPECT_EQ(w.epoch(0), 1u);
}

TEST_F(ConsumerWindowTest, LateDeliveriesOfACancelledConsumerCountAsOld) {
  ConsumerWindow w;
  w.reset(1, 10, t0);
  w.setWanted(5);
  ASSERT_EQ(w.plan(later(1000)).size(), 1u);  // epoch 1, prefetch 5
  deliver(w, 3, 0);                           // were already on their way
  deliver(w, 1, 1);
  EXPECT_EQ(w.unacked(0), 4u);
  // Wanted 5, 3 old + prefetch 5: over by three; a change re-plans compensated.
  w.setWanted(6);
  const auto steps = w.plan(later(2000));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(*steps[0].prefetch, 2);  // 6 - 4 unacked
}

TEST_F(ConsumerWindowTest, UnlimitedIsPrefetchZeroWithoutCompensation) {
  ConsumerWindow w;
  w.reset(1, 0, t0);
  deliver(w, 100, 0);
  EXPECT_TRUE(w.plan(later(1000)).empty());
  w.setWanted(10);
  auto steps = w.plan(later(2000));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_FALSE(steps[0].prefetch.has_value());  // 100 unacked: pause until below 10
  w.setWanted(0);
  steps = w.plan(later(3000));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(*steps[0].prefetch, 0);
}

TEST_F(ConsumerWindowTest, SlotsAreIndependent) {
  ConsumerWindow w;
  w.reset(2, 10, t0);
  deliver(w, 10, 0, 0);
  w.setWanted(15);
  const auto steps = w.plan(later(1000));
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(*steps[0].prefetch, 5);   // queue 0 holds 10
  EXPECT_EQ(*steps[1].prefetch, 15);  // queue 1 holds none
}

TEST_F(ConsumerWindowTest, StoppedPlansNothing) {
  ConsumerWindow w;
  w.reset(1, 10, t0);
  w.stop();
  w.setWanted(50);
  EXPECT_TRUE(w.plan(later(1000)).empty());
}

}  // namespace
}  // namespace celeriac::worker::amqp

namespace celeriac::worker::amqp {
namespace {

// addQueue on a quorum worker: the new slot consumes at once with the wanted prefetch,
// at epoch 0, and a prefetch change later re-creates it like any other slot.
TEST(ConsumerWindowSlotsTest, AnAddedSlotConsumesWithTheWantedPrefetchAndFollowsChanges) {
  const ConsumerWindow::TimePoint t0 = ConsumerWindow::TimePoint{} + std::chrono::hours(1);
  ConsumerWindow w;
  w.reset(1, 10, t0);
  w.addSlot(3, t0);  // slots 1 and 2 were given to queues removed meanwhile
  ASSERT_EQ(w.slots(), 4u);
  EXPECT_TRUE(w.consuming(3));
  EXPECT_EQ(w.prefetch(3), 10);
  EXPECT_EQ(w.epoch(3), 0u);
  EXPECT_FALSE(w.consuming(1));
  EXPECT_FALSE(w.consuming(2));
  w.setWanted(20);
  const auto steps = w.plan(t0 + std::chrono::seconds(1));
  ASSERT_EQ(steps.size(), 2u) << "the gaps must never get a consumer";
  EXPECT_EQ(steps[0].slot, 0u);
  EXPECT_EQ(steps[1].slot, 3u);
  EXPECT_EQ(steps[1].prefetch, std::optional<std::uint16_t>(20));
}

// removeQueue: the slot is never re-created, even when room opens up, and its
// deliveries still settle (acks of a removed queue keep working).
TEST(ConsumerWindowSlotsTest, ARemovedSlotIsNeverRecreatedAndItsDeliveriesStillSettle) {
  const ConsumerWindow::TimePoint t0 = ConsumerWindow::TimePoint{} + std::chrono::hours(1);
  ConsumerWindow w;
  w.reset(2, 4, t0);
  for (int i = 0; i < 4; ++i) w.delivered(1, 0);
  w.removeSlot(1);
  EXPECT_FALSE(w.consuming(1));
  EXPECT_EQ(w.unacked(1), 4u);
  for (int i = 0; i < 4; ++i) w.settled(1, 0);
  EXPECT_EQ(w.unacked(1), 0u);
  w.setWanted(8);
  for (const auto& step : w.plan(t0 + std::chrono::seconds(1))) EXPECT_NE(step.slot, 1u);
}

}  // namespace
}  // namespace celeriac::worker::amqp
