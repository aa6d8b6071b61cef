// AmqpConnection and Celery's side of the broker, against the program's throwaway
// RabbitMQ node (amqp_connection_test.cc has the connection basics): Celery's exchanges
// and the auto-ack remote-control queue (checked against what Python Celery declares),
// queues added and removed while running, and transient publishes (delivery_mode 1, a
// 404 that must not break the task channel, dropped under a memory alarm).

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "amqp_connection_fixture.h"

namespace celeriac::testing::integration {
namespace {

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

// Python: `queue` declared transient (durable=False), which a worker's durable
// declaration of the same name cannot match (406 PRECONDITION_FAILED).
std::string declareTransientQueue(const std::string& queue) {
  return "import os, amqp\n"
         "c = amqp.Connection('127.0.0.1:%s' % os.environ['AMQP_PORT']); c.connect()\n"
         "c.channel().queue_declare('" +
         queue +
         "', durable=False, auto_delete=False)\n"
         "print('ok')\n";
}

TEST_F(AmqpConnectionTest, AnAddedQueueTheBrokerRefusesIsForgottenAndTheConnectionCarriesOn) {
  const std::string q = uniqueQueue("it-refused");
  const std::string refused = uniqueQueue("it-refused-added");
  connect(options(q));
  std::string out;
  ASSERT_EQ(rabbit().python(declareTransientQueue(refused), &out), 0) << out;
  EXPECT_TRUE(conn_->addQueue(QueueSpec{refused, std::nullopt, false}));
  ASSERT_TRUE(loop_.runUntil([this] { return conn_->queues().size() == 1; }, seconds(20)))
      << "the refused queue is forgotten";
  EXPECT_EQ(conn_->queues()[0].name, q);
  EXPECT_EQ(rabbit().queueConsumers(refused), 0);
  // Only the declaring channel was closed: no reconnect, and it still declares.
  const std::string later = uniqueQueue("it-refused-later");
  EXPECT_TRUE(conn_->addQueue(QueueSpec{later, std::nullopt, false}));
  ASSERT_TRUE(loop_.runUntil([&] { return rabbit().queueConsumers(later) == 1; }, seconds(20)));
  publish(q, 1);
  ASSERT_TRUE(loop_.runUntil([this] { return deliveries_.size() == 1; }, seconds(20)));
  EXPECT_EQ(deliveries_[0].queue, q);
  conn_->ack(deliveries_[0].ref);
  EXPECT_EQ(opened_.size(), 1u) << "the connection was not reopened";
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
