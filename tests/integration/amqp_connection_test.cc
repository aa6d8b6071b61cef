// AmqpConnection against a throwaway RabbitMQ node on 127.0.0.1 (amqp_rabbit_server.h),
// on a real loop: deliveries and acks, a broker-side close and the reconnect that
// follows, a hung broker (missed heartbeats), and the promise that a broker which
// stops reading (a memory alarm) never blocks the loop, not even close(); then
// Celery's exchanges and the auto-ack remote-control queue (checked against what
// Python Celery declares), queues added and removed while running, and transient
// publishes (delivery_mode 1, a 404 that must not break the task channel, dropped
// under a memory alarm).
//
// One node serves the whole program (it takes seconds to start); each test uses its
// own queue. Every wait is bounded.

#include "worker/amqp/amqp_connection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "amqp_rabbit_server.h"
#include "test_loop.h"
#include "worker/uv/uv_dispatcher.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::testing::integration {
namespace {

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

std::string uniqueQueue(const std::string& prefix) {
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

// What Celery 5.2 declares for events and remote control,
// with `node`'s remote-control queue consumed no_ack.
void addCeleryControl(AmqpOptions& o, const std::string& node) {
  o.topology.exchanges = {ExchangeSpec{"celeryev", "topic", true, false},
                          ExchangeSpec{"celery.pidbox", "fanout", false, false},
                          ExchangeSpec{"reply.celery.pidbox", "direct", false, false}};
  AutoAckQueueSpec pidbox;
  pidbox.name = node + ".celery.pidbox";
  pidbox.exchange = "celery.pidbox";
  pidbox.routing_key = "";
  pidbox.message_ttl = milliseconds(300000);
  pidbox.expires = milliseconds(10000);
  o.topology.auto_ack_queues = {pidbox};
}

// Python Celery 5.2.6 declares its own remote-control queue for `node`, the reply
// exchange and the event exchange, with its own settings: a 406 (anything we declared
// differently) makes it exit non-zero.
std::string celeryDeclares(const std::string& node) {
  return "import os\n"
         "from celery import Celery\n"
         "from celery.events.event import get_exchange\n"
         "app = Celery(broker='amqp://guest:guest@127.0.0.1:%s//' % os.environ['AMQP_PORT'])\n"
         "with app.connection() as conn:\n"
         "    ch = conn.channel()\n"
         "    mailbox = app.control.mailbox(conn)\n"
         "    mailbox.get_queue('" +
         node +
         "')(ch).declare()\n"
         "    mailbox.reply_exchange(ch).declare()\n"
         "    get_exchange(conn)(ch).declare()\n"
         "print('declared')\n";
}

TEST_F(AmqpConnectionTest, CeleryExchangesAndTheAutoAckQueueAreDeclaredAsCeleryDeclaresThem) {
  const std::string q = uniqueQueue("it-control");
  const std::string node = uniqueQueue("w") + "@host";
  const std::string pidbox = node + ".celery.pidbox";
  AmqpOptions o = options(q);
  addCeleryControl(o, node);
  connect(o);

  const std::string info = rabbit().queueInfo(pidbox, {"arguments", "auto_delete", "durable"});
  EXPECT_NE(info.find("\"x-expires\",10000"), std::string::npos) << info;
  EXPECT_NE(info.find("\"x-message-ttl\",300000"), std::string::npos) << info;
  EXPECT_NE(info.find("\ttrue\tfalse"), std::string::npos) << "auto_delete, not durable: " << info;
  EXPECT_EQ(rabbit().queueConsumers(pidbox), 1);
  std::string exchanges;
  rabbit().ctl(
      {"-q", "list_exchanges", "name", "type", "durable", "auto_delete", "--no-table-headers"},
      &exchanges);
  EXPECT_NE(exchanges.find("celeryev\ttopic\ttrue\tfalse"), std::string::npos) << exchanges;
  EXPECT_NE(exchanges.find("celery.pidbox\tfanout\tfalse\tfalse"), std::string::npos);
  EXPECT_NE(exchanges.find("reply.celery.pidbox\tdirect\tfalse\tfalse"), std::string::npos);
  std::string out;
  EXPECT_EQ(rabbit().python(celeryDeclares(node), &out), 0) << out;

  // A broadcast (what `celery inspect ping` publishes) arrives through the auto-ack
  // callback and leaves nothing to ack.
  OutgoingMessage m;
  m.exchange = "celery.pidbox";
  m.body = R"({"method": "ping", "arguments": {}})";
  conn_->publish(std::move(m), [this](bool ok) { ++(ok ? confirmed_ : failed_); });
  ASSERT_TRUE(loop_.runUntil([this] { return auto_acks_.size() == 1; }, seconds(20)));
  EXPECT_EQ(auto_acks_[0].queue, pidbox);
  EXPECT_EQ(auto_acks_[0].message.exchange, "celery.pidbox");
  EXPECT_EQ(auto_acks_[0].ref.tag, 0u) << "an auto-ack delivery must not be ackable";
  EXPECT_TRUE(deliveries_.empty());
  conn_->ack(auto_acks_[0].ref);  // no-ops: neither may reach the broker
  conn_->reject(auto_acks_[0].ref, false);
  loop_.runFor(milliseconds(200));
  EXPECT_EQ(rabbit().queueCounts(pidbox), std::make_pair(0, 0));
  EXPECT_TRUE(conn_->isOpen());
  EXPECT_TRUE(broken_.empty()) << broken_.front();
}

TEST_F(AmqpConnectionTest, TheAutoAckQueueIsConsumedAgainAfterAReconnectAndAfterCancelConsumers) {
  const std::string q = uniqueQueue("it-control-reconnect");
  const std::string node = uniqueQueue("w") + "@host";
  AmqpOptions o = options(q);
  addCeleryControl(o, node);
  connect(o);
  ASSERT_GE(rabbit().closeAllConnections("integration test"), 1);
  ASSERT_TRUE(loop_.runUntil([this] { return opened_.size() == 2; }, seconds(30)));
  // Warm shutdown stops task queues only: remote control must keep working.
  conn_->cancelConsumers();
  ASSERT_TRUE(loop_.runUntil([&] { return rabbit().queueConsumers(q) == 0; }, seconds(10)));
  OutgoingMessage m;
  m.exchange = "celery.pidbox";
  m.body = "{}";
  conn_->publish(std::move(m), [this](bool ok) { ++(ok ? confirmed_ : failed_); });
  publish(q, 1);
  ASSERT_TRUE(
      loop_.runUntil([this] { return auto_acks_.size() == 1 && confirmed_ == 2; }, seconds(20)));
  EXPECT_EQ(auto_acks_[0].ref.generation, 2u);
  EXPECT_TRUE(deliveries_.empty());
  EXPECT_EQ(rabbit().queueCounts(q), std::make_pair(1, 0));
  EXPECT_EQ(rabbit().queueConsumers(node + ".celery.pidbox"), 1);
}

// add_consumer / cancel_consumer, for a classic or a quorum worker.
void addAndRemoveQueues(TestLoop& loop, RabbitServer& rabbit, AmqpConnection& conn,
                        const std::string& q2, bool quorum, std::vector<Delivery>& deliveries,
                        std::vector<std::uint64_t>& opened,
                        const std::function<void(const std::string&, int)>& publish) {
  EXPECT_TRUE(conn.addQueue(QueueSpec{q2, std::nullopt, quorum}));
  EXPECT_FALSE(conn.addQueue(QueueSpec{q2, std::nullopt, quorum})) << "already consumed";
  ASSERT_EQ(conn.queues().size(), 2u);
  EXPECT_EQ(conn.queues()[1].name, q2);
  ASSERT_TRUE(loop.runUntil([&] { return rabbit.queueConsumers(q2) == 1; }, seconds(20)));
  publish(q2, 2);
  ASSERT_TRUE(loop.runUntil([&] { return deliveries.size() == 2; }, seconds(20)));
  EXPECT_EQ(deliveries[0].queue, q2);
  for (const Delivery& d : deliveries) conn.ack(d.ref);
  deliveries.clear();
  loop.runFor(milliseconds(200));  // the acks go out

  // Still consumed after a reconnect. (Quorum queue counts in rabbitmqctl lag, so the
  // acks above may not have landed before the close: ack what comes again too.)
  ASSERT_GE(rabbit.closeAllConnections("integration test"), 1);
  ASSERT_TRUE(loop.runUntil([&] { return opened.size() == 2 && conn.isOpen(); }, seconds(30)));
  publish(q2, 1);
  const auto fresh = [&] {
    return std::any_of(deliveries.begin(), deliveries.end(),
                       [](const Delivery& d) { return !d.message.redelivered; });
  };
  ASSERT_TRUE(loop.runUntil(fresh, seconds(20))) << deliveries.size() << " delivered; consumers of "
                                                 << q2 << ": " << rabbit.queueConsumers(q2);
  for (const Delivery& d : deliveries) EXPECT_EQ(d.queue, q2);
  for (const Delivery& d : deliveries) EXPECT_EQ(d.ref.generation, 2u);
  const auto fresh_one = std::find_if(deliveries.begin(), deliveries.end(),
                                      [](const Delivery& d) { return !d.message.redelivered; });
  const Delivery held = *fresh_one;
  deliveries.erase(fresh_one);
  for (const Delivery& d : deliveries) conn.ack(d.ref);
  deliveries.clear();

  // Removed: no more consumer; the delivery it already sent can still be acked.
  EXPECT_TRUE(conn.removeQueue(q2));
  EXPECT_FALSE(conn.removeQueue(q2));
  EXPECT_EQ(conn.queues().size(), 1u);
  ASSERT_TRUE(loop.runUntil([&] { return rabbit.queueConsumers(q2) == 0; }, seconds(20))) << [&] {
    std::string consumers;
    rabbit.ctl({"-q", "list_consumers", "queue_name", "consumer_tag"}, &consumers);
    return consumers;
  }();
  conn.ack(held.ref);
  ASSERT_TRUE(
      loop.runUntil([&] { return rabbit.queueCounts(q2) == std::make_pair(0, 0); }, seconds(20)))
      << "the ack of a removed queue's delivery did not land";
  publish(q2, 1);
  ASSERT_TRUE(
      loop.runUntil([&] { return rabbit.queueCounts(q2) == std::make_pair(1, 0); }, seconds(20)));
  // And still not consumed after another reconnect.
  ASSERT_GE(rabbit.closeAllConnections("integration test"), 1);
  ASSERT_TRUE(loop.runUntil([&] { return opened.size() == 3 && conn.isOpen(); }, seconds(30)));
  loop.runFor(milliseconds(300));
  EXPECT_TRUE(deliveries.empty());
  EXPECT_EQ(rabbit.queueConsumers(q2), 0);
  EXPECT_EQ(rabbit.queueCounts(q2), std::make_pair(1, 0));
}

TEST_F(AmqpConnectionTest, AddQueueConsumesAndRemoveQueueStopsAcrossReconnectsClassic) {
  const std::string q = uniqueQueue("it-add");
  connect(options(q));
  addAndRemoveQueues(loop_, rabbit(), *conn_, uniqueQueue("it-added"), false, deliveries_, opened_,
                     [this](const std::string& queue, int n) { publish(queue, n); });
  EXPECT_EQ(failed_, 0);
}

TEST_F(AmqpConnectionTest, AddQueueConsumesAndRemoveQueueStopsAcrossReconnectsQuorum) {
  const std::string q = uniqueQueue("it-add-qq");
  AmqpOptions o = options(q);
  o.topology.queues[0].quorum = true;
  connect(o);
  addAndRemoveQueues(loop_, rabbit(), *conn_, uniqueQueue("it-added-qq"), true, deliveries_,
                     opened_, [this](const std::string& queue, int n) { publish(queue, n); });
  EXPECT_EQ(failed_, 0);
}

// Python: a queue bound to celeryev for worker.# events, and reading one message of it
// (delivery_mode and body), waiting at most 10 s.
std::string declareEventQueue(const std::string& queue) {
  return "import os, amqp\n"
         "c = amqp.Connection('127.0.0.1:%s' % os.environ['AMQP_PORT']); c.connect()\n"
         "ch = c.channel()\n"
         "ch.exchange_declare('celeryev', 'topic', durable=True, auto_delete=False)\n"
         "ch.queue_declare('" +
         queue +
         "', durable=False, auto_delete=False)\n"
         "ch.queue_bind('" +
         queue +
         "', 'celeryev', 'worker.#')\n"
         "print('ok')\n";
}
std::string readEvent(const std::string& queue) {
  return "import os, time, amqp\n"
         "c = amqp.Connection('127.0.0.1:%s' % os.environ['AMQP_PORT']); c.connect()\n"
         "ch = c.channel()\n"
         "deadline = time.time() + 10\n"
         "while time.time() < deadline:\n"
         "    m = ch.basic_get('" +
         queue +
         "', no_ack=True)\n"
         "    if m is not None:\n"
         "        body = m.body.decode() if isinstance(m.body, bytes) else m.body\n"
         "        print(m.properties.get('delivery_mode'), body)\n"
         "        break\n"
         "    time.sleep(0.05)\n";
}

OutgoingMessage event(const std::string& body) {
  OutgoingMessage m;
  m.exchange = "celeryev";
  m.routing_key = "worker.heartbeat";
  m.persistent = false;
  m.body = body;
  return m;
}

TEST_F(AmqpConnectionTest, PublishTransientReachesATopicExchangeAsATransientMessage) {
  const std::string q = uniqueQueue("it-transient");
  const std::string events = uniqueQueue("it-events");
  AmqpOptions o = options(q);
  addCeleryControl(o, uniqueQueue("w") + "@host");
  connect(o);
  std::string out;
  ASSERT_EQ(rabbit().python(declareEventQueue(events), &out), 0) << out;
  EXPECT_TRUE(conn_->publishTransient(event(R"({"type": "worker-heartbeat"})")));
  ASSERT_TRUE(loop_.runUntil([&] { return rabbit().queueCounts(events).first == 1; }, seconds(20)));
  ASSERT_EQ(rabbit().python(readEvent(events), &out), 0);
  EXPECT_EQ(out, "1 {\"type\": \"worker-heartbeat\"}\n");
  EXPECT_EQ(conn_->droppedTransient(), 0u);
}

// A reply to an exchange nobody declared: RabbitMQ closes the transient channel (404).
// The task channel, its deliveries and acks, and the confirm channel carry on; the
// transient channel is re-opened.
TEST_F(AmqpConnectionTest, ATransientPublishToAMissingExchangeDoesNotBreakTheTaskChannel) {
  const std::string q = uniqueQueue("it-404");
  const std::string events = uniqueQueue("it-events");
  AmqpOptions o = options(q);
  addCeleryControl(o, uniqueQueue("w") + "@host");
  connect(o);
  std::string out;
  ASSERT_EQ(rabbit().python(declareEventQueue(events), &out), 0) << out;
  publish(q, 2);
  ASSERT_TRUE(loop_.runUntil([this] { return deliveries_.size() == 2; }, seconds(20)));
  conn_->ack(deliveries_[0].ref);

  OutgoingMessage reply;
  reply.exchange = uniqueQueue("no-such-exchange");
  reply.routing_key = "client";
  reply.persistent = false;
  reply.body = "{}";
  EXPECT_TRUE(conn_->publishTransient(std::move(reply)));
  // Messages sent before the re-open are lost; one sent after it arrives.
  bool arrived = false;
  for (int i = 0; i < 100 && !arrived; ++i) {
    conn_->publishTransient(event("{}"));
    arrived =
        loop_.runUntil([&] { return rabbit().queueCounts(events).first >= 1; }, milliseconds(100));
  }
  EXPECT_TRUE(arrived) << "the transient channel was not re-opened";
  EXPECT_TRUE(broken_.empty()) << broken_.front();
  EXPECT_EQ(opened_, std::vector<std::uint64_t>{1});

  conn_->ack(deliveries_[1].ref);
  publish(q, 1);
  ASSERT_TRUE(
      loop_.runUntil([this] { return deliveries_.size() == 3 && confirmed_ == 3; }, seconds(20)));
  conn_->ack(deliveries_[2].ref);
  ASSERT_TRUE(
      loop_.runUntil([&] { return rabbit().queueCounts(q) == std::make_pair(0, 0); }, seconds(20)))
      << "acks did not land";
  EXPECT_TRUE(conn_->isOpen());
  EXPECT_EQ(deliveries_[0].ref.generation, deliveries_[2].ref.generation);
}

// Events under a memory alarm: the broker stops reading, the I/O thread blocks in a
// send, and transient messages must be dropped (counted) once kTransientBacklogBytes
// wait, instead of piling up, while the loop keeps turning.
TEST_F(AmqpConnectionTest, TransientPublishesAreDroppedUnderAMemoryAlarmWithoutBlockingTheLoop) {
  const std::string q = uniqueQueue("it-transient-alarm");
  AmqpOptions o = options(q);
  addCeleryControl(o, uniqueQueue("w") + "@host");
  connect(o);
  ASSERT_TRUE(rabbit().setMemoryAlarm(true));
  {
    AlarmWatchdog watchdog(rabbit(), seconds(30));
    GapMeter meter(loop_.get());
    const std::string big(1u << 20, 'e');
    int accepted = 0;
    bool refused = false;
    // Socket buffers on both sides take some megabytes before a send blocks; then
    // kTransientBacklogBytes more. Bounded: at most 200 MiB over 10 s.
    for (int i = 0; i < 200 && !refused; ++i) {
      if (conn_->publishTransient(event(big))) {
        ++accepted;
      } else {
        refused = true;
      }
      loop_.runFor(milliseconds(50));
    }
    ASSERT_TRUE(refused) << accepted << " MiB accepted under a memory alarm";
    EXPECT_GE(accepted, 4);
    EXPECT_EQ(conn_->droppedTransient(), 1u);
    EXPECT_FALSE(conn_->publishTransient(event(big)));
    EXPECT_EQ(conn_->droppedTransient(), 2u);
    loop_.runFor(milliseconds(200));
    EXPECT_LT(meter.maxGap(), milliseconds(500)) << "the loop stopped for a transient publish";
    EXPECT_GT(meter.ticks(), 20);
  }  // the watchdog clears the alarm
  // The backlog drains once the broker reads again: room for events again.
  EXPECT_TRUE(loop_.runUntil([this] { return conn_->publishTransient(event("{}")); }, seconds(60)));
  EXPECT_TRUE(broken_.empty()) << broken_.front();
}

}  // namespace
}  // namespace celeriac::testing::integration
