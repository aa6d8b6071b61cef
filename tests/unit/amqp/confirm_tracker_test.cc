#include "worker/amqp/confirm_tracker.h"

#include <gtest/gtest.h>

namespace celeriac::worker::amqp {
namespace {

using Ids = std::vector<std::uint64_t>;

TEST(ConfirmTrackerTest, NumbersPublishesFromOneAndSettlesASingleConfirm) {
  ConfirmTracker t;
  EXPECT_EQ(t.sent(70), 1u);
  EXPECT_EQ(t.sent(71), 2u);
  EXPECT_EQ(t.settle(2, false), Ids{71});
  EXPECT_EQ(t.pending(), 1u);
  EXPECT_EQ(t.settle(1, false), Ids{70});
}

TEST(ConfirmTrackerTest, AMultipleConfirmSettlesEverythingUpToItsTagOldestFirst) {
  ConfirmTracker t;
  for (std::uint64_t id = 10; id < 15; ++id) t.sent(id);
  t.settle(2, false);  // 11 confirmed alone first
  EXPECT_EQ(t.settle(4, true), (Ids{10, 12, 13}));
  EXPECT_EQ(t.pending(), 1u);
}

TEST(ConfirmTrackerTest, UnknownOrRepeatedTagsSettleNothing) {
  ConfirmTracker t;
  t.sent(1);
  EXPECT_TRUE(t.settle(5, false).empty());
  EXPECT_EQ(t.settle(1, false), Ids{1});
  EXPECT_TRUE(t.settle(1, false).empty());
  EXPECT_TRUE(t.settle(1, true).empty());
}

TEST(ConfirmTrackerTest, ResetStartsANewChannelAtOne) {
  ConfirmTracker t;
  t.sent(1);
  t.sent(2);
  t.reset();
  EXPECT_EQ(t.pending(), 0u);
  EXPECT_EQ(t.sent(3), 1u);
}

}  // namespace
}  // namespace celeriac::worker::amqp
