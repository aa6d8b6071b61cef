#include "worker/amqp/transient_backlog.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace celeriac::worker::amqp {
namespace {

constexpr std::size_t kOverhead = TransientBacklog::kMessageOverhead;

TEST(TransientBacklogTest, ReservesUntilTheLimitThenRefuses) {
  auto backlog = std::make_shared<TransientBacklog>(4 * (1000 + kOverhead));
  std::vector<TransientBacklog::Lease> held;
  for (int i = 0; i < 4; ++i) {
    auto lease = backlog->reserve(1000);
    ASSERT_TRUE(lease) << i;
    held.push_back(std::move(*lease));
  }
  EXPECT_EQ(backlog->bytes(), 4 * (1000 + kOverhead));
  EXPECT_FALSE(backlog->reserve(1));
  EXPECT_EQ(backlog->dropped(), 0u) << "counting is the caller's decision";
}

// The I/O thread gives bytes back once rabbitmq-c wrote the message: room again.
TEST(TransientBacklogTest, ReleasingGivesTheBytesBackOnce) {
  auto backlog = std::make_shared<TransientBacklog>(1000 + kOverhead);
  auto lease = backlog->reserve(1000);
  ASSERT_TRUE(lease);
  EXPECT_FALSE(backlog->reserve(1000));
  lease->release();
  lease->release();
  EXPECT_EQ(backlog->bytes(), 0u);
  EXPECT_TRUE(backlog->reserve(1000));  // a temporary: released at once
  EXPECT_EQ(backlog->bytes(), 0u);
}

// A command dropped for a stale connection or cleared from the outbox is destroyed,
// not executed: its lease must still give the bytes back, or the budget leaks until
// every transient message is refused forever.
TEST(TransientBacklogTest, ADestroyedOrMovedLeaseGivesItsBytesBackExactlyOnce) {
  auto backlog = std::make_shared<TransientBacklog>(1u << 20);
  {
    auto lease = backlog->reserve(100);
    ASSERT_TRUE(lease);
    TransientBacklog::Lease moved = std::move(*lease);
    TransientBacklog::Lease assigned;
    assigned = std::move(moved);
    EXPECT_EQ(backlog->bytes(), 100 + kOverhead);
  }
  EXPECT_EQ(backlog->bytes(), 0u);
}

TEST(TransientBacklogTest, AMessageBiggerThanTheLimitNeverFits) {
  auto backlog = std::make_shared<TransientBacklog>(1000);
  EXPECT_FALSE(backlog->reserve(1000));
  EXPECT_EQ(backlog->bytes(), 0u);
}

TEST(TransientBacklogTest, ReleasesFromAnotherThreadAreCounted) {
  auto backlog = std::make_shared<TransientBacklog>(1u << 30);
  std::vector<TransientBacklog::Lease> leases;
  for (int i = 0; i < 1000; ++i) leases.push_back(std::move(*backlog->reserve(10)));
  std::thread io([&leases] {
    for (auto& l : leases) l.release();
  });
  io.join();
  EXPECT_EQ(backlog->bytes(), 0u);
  backlog->countDropped();
  EXPECT_EQ(backlog->dropped(), 1u);
}

}  // namespace
}  // namespace celeriac::worker::amqp
