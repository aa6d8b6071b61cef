#include "worker/amqp/consumer_set.h"

#include <gtest/gtest.h>

namespace celeriac::worker::amqp {
namespace {

std::vector<std::string> names(const ConsumerSet& set) {
  std::vector<std::string> out;
  for (const QueueSpec& q : set.queues()) out.push_back(q.name);
  return out;
}

TEST(ConsumerSetTest, TopologyQueuesGetSlotsInOrder) {
  ConsumerSet set({QueueSpec{"a", std::nullopt, false}, QueueSpec{"b", 5, false}});
  ASSERT_EQ(set.entries().size(), 2u);
  EXPECT_EQ(set.entries()[0].slot, 0u);
  EXPECT_EQ(set.entries()[1].slot, 1u);
  EXPECT_EQ(set.entries()[1].queue.max_priority, 5);
  EXPECT_EQ(set.slotCount(), 2u);
}

TEST(ConsumerSetTest, AddingAQueueAlreadyConsumedIsRefused) {
  ConsumerSet set({QueueSpec{"a", std::nullopt, false}});
  EXPECT_EQ(set.add(QueueSpec{"b", std::nullopt, false}), std::optional<std::size_t>(1));
  EXPECT_EQ(set.add(QueueSpec{"a", std::nullopt, false}), std::nullopt);
  EXPECT_EQ(names(set), (std::vector<std::string>{"a", "b"}));
}

// A slot names a consumer (and its late deliveries) on the connection: a queue removed
// and added again must get a new one, or an old consumer's cancel-ok or deliveries
// would be taken for the new consumer's.
TEST(ConsumerSetTest, SlotsAreNeverReusedOnOneConnection) {
  ConsumerSet set({QueueSpec{"a", std::nullopt, false}, QueueSpec{"b", std::nullopt, false}});
  EXPECT_EQ(set.remove("a"), std::optional<std::size_t>(0));
  EXPECT_EQ(set.remove("a"), std::nullopt);
  EXPECT_EQ(set.add(QueueSpec{"a", std::nullopt, false}), std::optional<std::size_t>(2));
  EXPECT_EQ(set.bySlot(0), nullptr);
  ASSERT_NE(set.bySlot(2), nullptr);
  EXPECT_EQ(set.bySlot(2)->queue.name, "a");
  EXPECT_EQ(set.slotCount(), 3u);
}

TEST(ConsumerSetTest, ANewConnectionRenumbersInOrder) {
  ConsumerSet set({QueueSpec{"a", std::nullopt, false}, QueueSpec{"b", std::nullopt, false}});
  set.remove("a");
  set.add(QueueSpec{"c", std::nullopt, true});
  set.renumber();
  EXPECT_EQ(names(set), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(set.entries()[0].slot, 0u);
  EXPECT_EQ(set.entries()[1].slot, 1u);
  EXPECT_TRUE(set.entries()[1].queue.quorum);
  EXPECT_EQ(set.slotCount(), 2u);
}

}  // namespace
}  // namespace celeriac::worker::amqp
