#pragma once
// The AmqpConnection integration tests' shared parts: the fixture (a loop, a
// UvDispatcher and a connection to the program's one throwaway RabbitMQ node, with
// every callback recorded), unique queue names, GapMeter (how late a 10 ms timer runs:
// the loop's responsiveness) and AlarmWatchdog (clears a memory alarm should a test
// hang). Used by amqp_connection_test.cc and amqp_connection_celery_test.cc, which make
// one program. Test thread only.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "amqp_rabbit_server.h"
#include "test_loop.h"
#include "worker/amqp/amqp_connection.h"
#include "worker/uv/uv_dispatcher.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::testing::integration {

using std::chrono::milliseconds;
using std::chrono::seconds;
using worker::amqp::AmqpConnection;
using worker::amqp::AmqpOptions;
using worker::amqp::AutoAckQueueSpec;
using worker::amqp::BrokerUrl;
using worker::amqp::Delivery;
using worker::amqp::DeliveryRef;
using worker::amqp::ExchangeSpec;
using worker::amqp::OutgoingMessage;
using worker::amqp::QueueSpec;

inline std::string uniqueQueue(const std::string& prefix) {
  static int n = 0;
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

// How late a 10 ms repeating timer runs: the loop's responsiveness while we wait.
class GapMeter {
 public:
  explicit GapMeter(uv_loop_t* loop) : timer_(worker::uv::makeHandle<uv_timer_t>(loop, this)) {
    last_ns_ = uv_hrtime();
    uv_update_time(loop);  // the first tick is due 10 ms from now, not from a stale time
    uv_timer_start(
        timer_.get(),
        [](uv_timer_t* t) noexcept {
          auto* self = static_cast<GapMeter*>(t->data);
          const std::uint64_t now = uv_hrtime();
          self->max_gap_ns_ = std::max(self->max_gap_ns_, now - self->last_ns_);
          self->last_ns_ = now;
          ++self->ticks_;
        },
        10, 10);
  }
  ~GapMeter() { uv_timer_stop(timer_.get()); }
  [[nodiscard]] milliseconds maxGap() const {
    return std::chrono::duration_cast<milliseconds>(std::chrono::nanoseconds(max_gap_ns_));
  }
  [[nodiscard]] int ticks() const { return ticks_; }

 private:
  worker::uv::HandlePtr<uv_timer_t> timer_;
  std::uint64_t last_ns_ = 0;
  std::uint64_t max_gap_ns_ = 0;
  int ticks_ = 0;
};

// Clears the memory alarm after `after` unless dismissed first: should the loop block
// after all, the test then fails on its measurements instead of hanging (the old
// AmqpConnection blocked in publish() until the alarm cleared).
class AlarmWatchdog {
 public:
  AlarmWatchdog(const RabbitServer& rabbit, std::chrono::seconds after)
      : thread_([this, &rabbit, after] {
          const auto deadline = std::chrono::steady_clock::now() + after;
          while (!done_.load() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(milliseconds(50));
          }
          rabbit.setMemoryAlarm(false);
        }) {}
  ~AlarmWatchdog() {
    done_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

class AmqpConnectionTest : public ::testing::Test {
 protected:
  RabbitServer& rabbit() { return RabbitServer::shared(); }

  void SetUp() override {
    rabbit();  // started before the loop exists: its start-up blocks
    dispatcher_ = std::make_unique<worker::uv::UvDispatcher>(loop_.get());
  }

  void TearDown() override {
    if (conn_) {
      conn_->close();
      loop_.runUntil([this] { return conn_->closed(); }, seconds(5));
      conn_.reset();
    }
    dispatcher_.reset();
    EXPECT_EQ(loop_.close(), 0) << "a uv handle was left open";
  }

  AmqpOptions options(const std::string& queue) {
    AmqpOptions o;
    BrokerUrl url;
    url.port = rabbit().port();
    o.urls = {url};
    o.topology.queues = {QueueSpec{queue, std::nullopt, false}};
    o.prefetch = 100;
    o.heartbeat = seconds(10);
    o.backoff_min = milliseconds(50);
    o.backoff_max = milliseconds(500);
    o.close_timeout = milliseconds(1000);
    return o;
  }

  void connect(AmqpOptions o) {
    conn_ = std::make_unique<AmqpConnection>(
        loop_.get(), *dispatcher_, std::move(o),
        AmqpConnection::Callbacks{
            [this](Delivery d) { deliveries_.push_back(std::move(d)); },
            [this](std::uint64_t generation) { opened_.push_back(generation); },
            [this](const std::string& reason) { broken_.push_back(reason); },
            [this](const std::string& reason) { fatal_.push_back(reason); },
            [this](Delivery d) { auto_acks_.push_back(std::move(d)); }});
    conn_->start();
    ASSERT_TRUE(loop_.runUntil([this] { return conn_->isOpen(); }, seconds(20)))
        << (broken_.empty() ? std::string("no reason") : broken_.back());
  }

  // Publishes `n` messages of `size` bytes to `queue`; `confirmed`/`failed` count the
  // publisher confirms.
  void publish(const std::string& queue, int n, std::size_t size = 16) {
    for (int i = 0; i < n; ++i) {
      OutgoingMessage m;
      m.routing_key = queue;
      m.body = std::string(size, static_cast<char>('a' + i % 26));
      conn_->publish(std::move(m), [this](bool ok) { ++(ok ? confirmed_ : failed_); });
    }
  }

  TestLoop loop_;
  std::unique_ptr<worker::uv::UvDispatcher> dispatcher_;
  std::unique_ptr<AmqpConnection> conn_;
  std::vector<Delivery> deliveries_;
  std::vector<Delivery> auto_acks_;
  std::vector<std::uint64_t> opened_;
  std::vector<std::string> broken_;
  std::vector<std::string> fatal_;
  int confirmed_ = 0;
  int failed_ = 0;
};

}  // namespace celeriac::testing::integration
