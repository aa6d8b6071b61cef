#include "worker/amqp/reconnect_backoff.h"

#include <gtest/gtest.h>

namespace celeriac::worker::amqp {
namespace {

using std::chrono::milliseconds;

TEST(ReconnectBackoffTest, DelaysStayBetweenMinAndADoublingCap) {
  ReconnectBackoff b(milliseconds(200), milliseconds(10'000), 42);
  milliseconds cap(200);
  for (int i = 0; i < 20; ++i) {
    const milliseconds d = b.next();
    EXPECT_GE(d, milliseconds(200));
    EXPECT_LE(d, cap);
    cap = std::min(milliseconds(10'000), cap * 2);
    EXPECT_EQ(b.cap(), cap);
  }
}

TEST(ReconnectBackoffTest, IsJitteredSoAFleetDoesNotReconnectInStep) {
  ReconnectBackoff a(milliseconds(200), milliseconds(10'000), 1);
  ReconnectBackoff b(milliseconds(200), milliseconds(10'000), 2);
  int differ = 0;
  for (int i = 0; i < 10; ++i) differ += a.next() != b.next() ? 1 : 0;
  EXPECT_GE(differ, 8);
}

TEST(ReconnectBackoffTest, ResetAfterASuccessfulConnection) {
  ReconnectBackoff b(milliseconds(200), milliseconds(10'000), 7);
  for (int i = 0; i < 10; ++i) b.next();
  b.reset();
  EXPECT_EQ(b.cap(), milliseconds(200));
  EXPECT_EQ(b.next(), milliseconds(200));
}

}  // namespace
}  // namespace celeriac::worker::amqp
