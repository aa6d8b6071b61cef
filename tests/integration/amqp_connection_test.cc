// AmqpConnection against a throwaway RabbitMQ node on 127.0.0.1 (amqp_rabbit_server.h),
// on a real loop: deliveries and acks, a broker-side close and the reconnect that
// follows, a hung broker (missed heartbeats), the promise that a broker which stops
// reading (a memory alarm) never blocks the loop, not even close(), and a refused
// declaration. Celery's exchanges, the remote-control queue, queues added and removed
// while running and transient publishes: amqp_connection_celery_test.cc.
//
// One node serves the whole program (it takes seconds to start); each test uses its
// own queue. Every wait is bounded.

#include "worker/amqp/amqp_connection.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "amqp_connection_fixture.h"

namespace celeriac::testing::integration {
namespace {


TEST_F(AmqpConnectionTest, DeliveriesArriveAndAcksLand) {
  const std::string q = uniqueQueue("it-deliver");
  connect(options(q));
  EXPECT_EQ(opened_, std::vector<std::uint64_t>{1});
  publish(q, 20);
  publish(q, 1, 1u << 20);  // 1 MiB: eight body frames of 128 KiB
  ASSERT_TRUE(
      loop_.runUntil([this] { return deliveries_.size() == 21 && confirmed_ == 21; }, seconds(20)))
      << deliveries_.size() << " delivered, " << confirmed_ << " confirmed, " << failed_
      << " failed";
  EXPECT_EQ(deliveries_.back().message.body.size(), 1u << 20);
  EXPECT_EQ(deliveries_.front().queue, q);
  EXPECT_EQ(deliveries_.front().message.body, std::string(16, 'a'));
  for (const Delivery& d : deliveries_) conn_->ack(d.ref);
  loop_.runFor(milliseconds(200));  // acks go out on this turn
  auto counts = rabbit().queueCounts(q);
  for (int i = 0; i < 50 && counts != std::make_pair(0, 0); ++i) counts = rabbit().queueCounts(q);
  EXPECT_EQ(counts, std::make_pair(0, 0)) << "acks did not land";
  EXPECT_TRUE(broken_.empty());
}

TEST_F(AmqpConnectionTest, BrokerCloseReconnectsWithANewGenerationAndStaleAcksAreNoOps) {
  const std::string q = uniqueQueue("it-reconnect");
  connect(options(q));
  publish(q, 3);
  ASSERT_TRUE(loop_.runUntil([this] { return deliveries_.size() == 3; }, seconds(20)));
  const std::vector<Delivery> first = std::move(deliveries_);
  deliveries_.clear();
  EXPECT_EQ(first[0].ref.generation, 1u);

  ASSERT_GE(rabbit().closeAllConnections("integration test"), 1);
  ASSERT_TRUE(loop_.runUntil([this] { return opened_.size() == 2; }, seconds(30)))
      << broken_.size();
  EXPECT_EQ(opened_[1], 2u);
  ASSERT_FALSE(broken_.empty());
  EXPECT_NE(broken_[0].find("CONNECTION_FORCED"), std::string::npos) << broken_[0];
  // The unacked three come back, redelivered, under the new generation.
  ASSERT_TRUE(loop_.runUntil([this] { return deliveries_.size() == 3; }, seconds(20)));
  for (const Delivery& d : deliveries_) {
    EXPECT_EQ(d.ref.generation, 2u);
    EXPECT_TRUE(d.message.redelivered);
  }
  // Acks of the old connection's deliveries: their tags mean nothing (or another
  // message) on the new channel. They must not be sent: a broker would close the
  // channel (PRECONDITION_FAILED unknown delivery tag) or ack the wrong message.
  for (const Delivery& d : first) conn_->ack(d.ref);
  loop_.runFor(milliseconds(500));
  EXPECT_TRUE(conn_->isOpen());
  EXPECT_EQ(broken_.size(), 1u);
  EXPECT_EQ(rabbit().queueCounts(q), std::make_pair(0, 3));
  for (const Delivery& d : deliveries_) conn_->ack(d.ref);
  loop_.runFor(milliseconds(200));
  auto counts = rabbit().queueCounts(q);
  for (int i = 0; i < 50 && counts != std::make_pair(0, 0); ++i) counts = rabbit().queueCounts(q);
  EXPECT_EQ(counts, std::make_pair(0, 0));
}

TEST_F(AmqpConnectionTest, AHungBrokerIsDetectedByMissedHeartbeatsAndReconnected) {
  const std::string q = uniqueQueue("it-heartbeat");
  AmqpOptions o = options(q);
  o.heartbeat = seconds(1);
  connect(o);
  rabbit().pause();
  const bool detected = loop_.runUntil([this] { return !broken_.empty(); }, seconds(10));
  rabbit().resume();
  ASSERT_TRUE(detected) << "no heartbeat timeout while the broker was stopped";
  EXPECT_NE(broken_[0].find("heartbeat"), std::string::npos) << broken_[0];
  EXPECT_TRUE(loop_.runUntil([this] { return opened_.size() == 2; }, seconds(30)));
}

// RabbitMQ's memory alarm stops reading from a connection that publishes, so
// its socket buffer fills and rabbitmq-c's send waits with no deadline. It used to wait
// on the loop thread (publish() did not return), freezing every timer and socket of the
// worker until the alarm cleared.
TEST_F(AmqpConnectionTest, APublishWhileTheBrokerIsBlockedDoesNotBlockTheLoop) {
  const std::string q = uniqueQueue("it-alarm");
  connect(options(q));
  ASSERT_TRUE(rabbit().setMemoryAlarm(true));
  {
    AlarmWatchdog watchdog(rabbit(), seconds(15));
    GapMeter meter(loop_.get());
    // 32 MiB: more than the socket buffers on both sides of a loopback connection.
    publish(q, 16, 2u << 20);
    loop_.runFor(seconds(3));
    EXPECT_LT(meter.maxGap(), milliseconds(500)) << "the loop stopped for a blocked publish";
    EXPECT_GT(meter.ticks(), 100);
    EXPECT_EQ(confirmed_, 0) << "the broker was not blocking us: the test proves nothing";
  }  // the watchdog clears the alarm
  EXPECT_TRUE(loop_.runUntil([this] { return confirmed_ == 16; }, seconds(60)))
      << confirmed_ << " confirmed, " << failed_ << " failed";
  EXPECT_EQ(failed_, 0);
  EXPECT_TRUE(broken_.empty());
}

// close() with a send stuck behind a memory alarm: the call returns at once, the loop
// keeps running, and the I/O thread ends within close_timeout (its socket is shut down),
// never waiting for the broker.
TEST_F(AmqpConnectionTest, CloseWhileASendIsStuckNeitherBlocksNorHangs) {
  const std::string q = uniqueQueue("it-close");
  connect(options(q));  // close_timeout 1 s
  ASSERT_TRUE(rabbit().setMemoryAlarm(true));
  AlarmWatchdog watchdog(rabbit(), seconds(15));
  publish(q, 16, 2u << 20);
  loop_.runFor(milliseconds(500));
  GapMeter meter(loop_.get());
  const auto before = std::chrono::steady_clock::now();
  conn_->close();
  EXPECT_LT(std::chrono::steady_clock::now() - before, milliseconds(50));
  EXPECT_TRUE(loop_.runUntil([this] { return conn_->closed(); }, seconds(5)));
  EXPECT_LT(meter.maxGap(), milliseconds(500));
  loop_.runFor(milliseconds(50));  // the publishes' done(false) are posted
  EXPECT_EQ(failed_, 16);
}

TEST_F(AmqpConnectionTest, ARefusedDeclarationIsFatal) {
  const std::string q = uniqueQueue("it-fatal");
  {
    AmqpOptions o = options(q);
    o.topology.queues[0].max_priority = 5;
    connect(o);
    conn_->close();
    ASSERT_TRUE(loop_.runUntil([this] { return conn_->closed(); }, seconds(5)));
    conn_.reset();
  }
  opened_.clear();
  AmqpOptions o = options(q);  // the same queue without x-max-priority: 406
  conn_ = std::make_unique<AmqpConnection>(
      loop_.get(), *dispatcher_, o,
      AmqpConnection::Callbacks{[](Delivery) {}, [this](std::uint64_t g) { opened_.push_back(g); },
                                [this](const std::string& r) { broken_.push_back(r); },
                                [this](const std::string& r) { fatal_.push_back(r); }});
  conn_->start();
  ASSERT_TRUE(loop_.runUntil([this] { return !fatal_.empty(); }, seconds(20)));
  EXPECT_NE(fatal_[0].find("406"), std::string::npos) << fatal_[0];
  EXPECT_TRUE(opened_.empty());
}

}  // namespace
}  // namespace celeriac::testing::integration
