// EventDispatcher: Celery's events as celeriac sends them. Task events are
// batched per loop turn into one task.multi message, dropped and counted rather than
// queued when the broker refuses them, and only sent while switched on; worker events
// follow the connection and the heartbeat interval. A fake loop: nothing sleeps.

#include "worker/app/event_dispatcher.h"

#include <gtest/gtest.h>

#include <vector>

#include "fake_loop.h"

namespace celeriac::worker::app {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

class EventDispatcherTest : public ::testing::Test {
 protected:
  void make(bool task_events, bool worker_events = true) {
    EventDispatcher::Options o{"celery@test", 42, task_events, worker_events, milliseconds(2000)};
    EventDispatcher::Ports p{[this](amqp::OutgoingMessage m) {
                               if (!accepting_) return false;
                               sent_.push_back(std::move(m));
                               return true;
                             },
                             [] { return std::size_t{3}; }, [] { return std::uint64_t{7}; }};
    events_ = std::make_unique<EventDispatcher>(loop_, clock_, o, p);
  }
  celery::TaskMessage task(const std::string& id) {
    celery::TaskMessage m;
    m.id = id;
    m.task = "celeriac.echo";
    m.root_id = id;
    return m;
  }
  std::vector<std::string> types(const amqp::OutgoingMessage& m) {
    std::vector<std::string> out;
    const json body = json::parse(m.body);
    if (body.is_array()) {
      for (const json& e : body) out.push_back(e.at("type"));
    } else {
      out.push_back(body.at("type"));
    }
    return out;
  }

  testing::FakeDispatcher loop_;
  celery::LamportClock clock_;
  std::vector<amqp::OutgoingMessage> sent_;
  bool accepting_ = true;
  std::unique_ptr<EventDispatcher> events_;
};

TEST_F(EventDispatcherTest, TaskEventsOfOneTurnGoOutAsOneTaskMultiMessage) {
  make(true);
  events_->received(task("a"));
  events_->started(task("a"));
  events_->succeeded(task("a"), json(5), 0.25);
  EXPECT_TRUE(sent_.empty()) << "sent inside the task path";
  loop_.runReady();
  ASSERT_EQ(sent_.size(), 1u);
  const amqp::OutgoingMessage& m = sent_[0];
  EXPECT_EQ(m.exchange, "celeryev");
  EXPECT_EQ(m.routing_key, "task.multi");
  EXPECT_FALSE(m.persistent);
  EXPECT_EQ(m.headers, (json{{"hostname", "celery@test"}}));
  EXPECT_EQ(types(m), (std::vector<std::string>{"task-received", "task-started", "task-succeeded"}));
  const json body = json::parse(m.body);
  EXPECT_EQ(body[2]["uuid"], "a");
  EXPECT_EQ(body[2]["result"], "5");  // a repr string, as Celery sends it
  EXPECT_EQ(body[2]["runtime"], 0.25);
  // One Lamport tick per event, in order.
  EXPECT_LT(body[0]["clock"].get<int>(), body[1]["clock"].get<int>());
  EXPECT_LT(body[1]["clock"].get<int>(), body[2]["clock"].get<int>());
  EXPECT_EQ(events_->sent(), 3u);
}

TEST_F(EventDispatcherTest, TaskEventsAreOffUntilEnabledAndOffAgainWhenDisabled) {
  make(false);
  events_->received(task("a"));
  loop_.runReady();
  EXPECT_TRUE(sent_.empty());
  EXPECT_TRUE(events_->setTaskEvents(true));
  EXPECT_FALSE(events_->setTaskEvents(true));  // "already enabled"
  events_->received(task("b"));
  loop_.runReady();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_TRUE(events_->setTaskEvents(false));
  events_->received(task("c"));
  loop_.runReady();
  EXPECT_EQ(sent_.size(), 1u);
}

TEST_F(EventDispatcherTest, WhatTheBrokerRefusesIsDroppedAndCountedNeverQueued) {
  make(true);
  accepting_ = false;
  events_->received(task("a"));
  events_->failed(task("a"), celery::ExceptionInfo{"ValueError", "builtins", json::array({"x"}), "tb"});
  loop_.runReady();
  EXPECT_EQ(events_->dropped(), 2u);
  accepting_ = true;
  events_->received(task("b"));
  loop_.runReady();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(types(sent_[0]), std::vector<std::string>{"task-received"}) << "old events resent";
}

TEST_F(EventDispatcherTest, WorkerOnlineOnConnectHeartbeatsEveryIntervalOfflineAtShutdown) {
  make(false);
  events_->connected();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].routing_key, "worker.online");
  const json online = json::parse(sent_[0].body);
  EXPECT_EQ(online["freq"], 2.0);
  EXPECT_EQ(online["active"], 3);
  EXPECT_EQ(online["processed"], 7);
  EXPECT_EQ(online["pid"], 42);
  loop_.advance(milliseconds(1999));
  EXPECT_EQ(sent_.size(), 1u);
  loop_.advance(milliseconds(1));
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1].routing_key, "worker.heartbeat");
  loop_.advance(milliseconds(2000));
  EXPECT_EQ(sent_.size(), 3u);
  events_->connected();  // a reconnect: no second worker-online
  EXPECT_EQ(sent_.size(), 3u);
  events_->offline();
  ASSERT_EQ(sent_.size(), 4u);
  EXPECT_EQ(sent_[3].routing_key, "worker.offline");
  loop_.advance(milliseconds(10000));
  EXPECT_EQ(sent_.size(), 4u) << "heartbeats after offline";
}

// Celery's `heartbeat` command sends freq=5 whatever the worker's interval.
TEST_F(EventDispatcherTest, TheHeartbeatCommandSendsOneNowWithCeleryFreqOf5) {
  make(false);
  events_->heartbeatNow();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].routing_key, "worker.heartbeat");
  const json body = json::parse(sent_[0].body);
  EXPECT_EQ(body.at("type"), "worker-heartbeat");
  EXPECT_EQ(body.at("freq"), 5.0);
  EXPECT_EQ(body.at("hostname"), "celery@test");
}

TEST_F(EventDispatcherTest, WithoutHeartbeatNoWorkerEventsButTaskEventsStillGo) {
  make(true, false);
  events_->connected();
  loop_.advance(milliseconds(5000));
  events_->offline();
  EXPECT_TRUE(sent_.empty());
  events_->received(task("a"));
  loop_.runReady();
  EXPECT_EQ(sent_.size(), 1u);
}

TEST_F(EventDispatcherTest, OfflineSendsTheLastTurnsTaskEventsFirst) {
  make(true);
  events_->connected();
  events_->succeeded(task("a"), json(1), 0.1);
  events_->offline();
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(sent_[1].routing_key, "task.multi");
  EXPECT_EQ(sent_[2].routing_key, "worker.offline");
}

}  // namespace
}  // namespace celeriac::worker::app
