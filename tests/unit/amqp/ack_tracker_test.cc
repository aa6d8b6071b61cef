#include "worker/amqp/ack_tracker.h"

#include <gtest/gtest.h>

namespace celeriac::worker::amqp {
namespace {

TEST(AckTrackerTest, CoalescesAContiguousFinishedPrefixIntoOneMultipleAck) {
  AckTracker t;
  for (std::uint64_t tag = 1; tag <= 5; ++tag) t.delivered(tag);
  for (std::uint64_t tag = 1; tag <= 5; ++tag) t.finished(tag);
  const auto plan = t.takeAcks();
  ASSERT_TRUE(plan.multiple_up_to.has_value());
  EXPECT_EQ(*plan.multiple_up_to, 5u);
  EXPECT_TRUE(plan.singles.empty());
  EXPECT_EQ(t.outstanding(), 0u);
  EXPECT_TRUE(t.takeAcks().empty());
}

TEST(AckTrackerTest, StopsTheMultipleAckBelowTheLowestRunningDelivery) {
  AckTracker t;
  for (std::uint64_t tag = 1; tag <= 4; ++tag) t.delivered(tag);
  t.finished(1);
  t.finished(2);
  t.finished(4);  // 3 still runs
  const auto plan = t.takeAcks();
  ASSERT_TRUE(plan.multiple_up_to.has_value());
  EXPECT_EQ(*plan.multiple_up_to, 2u);
  // 4 is finished behind a running task: acked singly, never held back.
  EXPECT_EQ(plan.singles, std::vector<std::uint64_t>{4});
  EXPECT_EQ(t.outstanding(), 1u);
  t.finished(3);
  const auto later = t.takeAcks();
  EXPECT_EQ(later.multiple_up_to.value_or(0), 3u);
}

TEST(AckTrackerTest, NeverNamesARejectedTagInAMultipleAck) {
  AckTracker t;
  for (std::uint64_t tag = 1; tag <= 3; ++tag) t.delivered(tag);
  t.finished(1);
  t.finished(2);
  t.settled(3);  // rejected: the broker no longer knows tag 3
  const auto plan = t.takeAcks();
  EXPECT_EQ(plan.multiple_up_to.value_or(0), 2u);
  EXPECT_TRUE(plan.singles.empty());
  EXPECT_EQ(t.outstanding(), 0u);
}

TEST(AckTrackerTest, APrefixOfOnlyRejectionsSendsNothing) {
  AckTracker t;
  t.delivered(1);
  t.delivered(2);
  t.settled(1);
  t.settled(2);
  EXPECT_FALSE(t.hasAckable());
  EXPECT_TRUE(t.takeAcks().empty());
  EXPECT_EQ(t.outstanding(), 0u);
}

TEST(AckTrackerTest, FinishingTwiceOrAnUnknownTagIsIgnored) {
  AckTracker t;
  t.delivered(7);
  t.finished(7);
  t.finished(7);
  t.finished(99);
  const auto plan = t.takeAcks();
  EXPECT_EQ(plan.multiple_up_to.value_or(0), 7u);
  EXPECT_TRUE(t.takeAcks().empty());
}

TEST(AckTrackerTest, ResetForgetsAnOldChannelsDeliveries) {
  AckTracker t;
  t.delivered(1);
  t.finished(1);
  t.reset();
  EXPECT_FALSE(t.hasAckable());
  EXPECT_TRUE(t.takeAcks().empty());
}

}  // namespace
}  // namespace celeriac::worker::amqp
