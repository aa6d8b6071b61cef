#include "worker/amqp/amqp_wire.h"

#include <gtest/gtest.h>

namespace celeriac::worker::amqp {
namespace {

// kombu 5.2's pidbox queue (Mailbox.get_queue with control_queue_ttl=300,
// control_queue_expires=10): integer milliseconds, or RabbitMQ answers a second
// declaration with 406 inequivalent arg.
TEST(AmqpWireTest, AutoAckQueueArgumentsAreKombusIntegerMilliseconds) {
  AutoAckQueueSpec q;
  q.name = "w1@host.celery.pidbox";
  q.exchange = "celery.pidbox";
  q.message_ttl = std::chrono::milliseconds(300000);
  q.expires = std::chrono::milliseconds(10000);
  const nlohmann::json args = autoAckQueueArguments(q);
  EXPECT_EQ(args, (nlohmann::json{{"x-message-ttl", 300000}, {"x-expires", 10000}}));
  EXPECT_TRUE(args["x-message-ttl"].is_number_integer());
  EXPECT_FALSE(q.durable);
  EXPECT_TRUE(q.auto_delete);
}

TEST(AmqpWireTest, AutoAckQueueWithoutTtlsHasNoArguments) {
  EXPECT_EQ(autoAckQueueArguments(AutoAckQueueSpec{}), nlohmann::json::object());
}

}  // namespace
}  // namespace celeriac::worker::amqp
