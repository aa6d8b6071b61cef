#include "worker/app/task_pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "fake_loop.h"
#include "worker/celery/iso_time.h"
#include "worker/tasks/builtin_tasks.h"

namespace celeriac::worker::app {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Records what the pipeline asks of the broker and Redis; stores complete only when
// the test says so, which is how "ack only after the result is stored" is checked.
struct FakePorts {
  std::vector<std::uint64_t> acked;
  std::vector<std::pair<std::uint64_t, bool>> rejected;
  std::vector<std::uint16_t> prefetch;
  struct Write {
    std::string key;
    json doc;
    std::function<void()> done;
  };
  std::vector<Write> writes;
  bool accepting = true;
  std::vector<std::pair<amqp::OutgoingMessage, std::function<void(bool)>>> published;

  PipelinePorts ports() {
    PipelinePorts p;
    p.ack = [this](amqp::DeliveryRef r) { acked.push_back(r.tag); };
    p.reject = [this](amqp::DeliveryRef r, bool requeue) { rejected.emplace_back(r.tag, requeue); };
    p.set_prefetch = [this](std::uint16_t n) { prefetch.push_back(n); };
    p.store = [this](std::string key, std::string doc, std::function<void()> done) {
      writes.push_back({std::move(key), json::parse(doc), std::move(done)});
    };
    p.store_accepting = [this] { return accepting; };
    p.publish = [this](amqp::OutgoingMessage m, std::function<void(bool)> done) {
      published.emplace_back(std::move(m), std::move(done));
    };
    return p;
  }
  void completeAll() {
    // Completing may add writes (none today); iterate by index.
    for (std::size_t i = 0; i < writes.size(); ++i) {
      if (writes[i].done) {
        auto done = std::move(writes[i].done);
        writes[i].done = nullptr;
        done();
      }
    }
  }
  [[nodiscard]] const Write* lastFor(const std::string& id) const {
    for (auto it = writes.rbegin(); it != writes.rend(); ++it) {
      if (it->key == "celery-task-meta-" + id) return &*it;
    }
    return nullptr;
  }
};

class TaskPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override { tasks::registerBuiltinTasks(registry_); }

  void make(PipelineOptions options = {}) {
    options.prefetch = 8;
    options.delay_tiers = {{"5s", milliseconds(5000)}, {"10m", milliseconds(600000)}};
    pipeline_ = std::make_unique<TaskPipeline>(loop_, registry_, fake_.ports(), options);
  }

  amqp::Delivery delivery(const std::string& task, const std::string& id, json args,
                          json extra_headers = json::object()) {
    amqp::Delivery d;
    d.ref = {1, next_tag_++};
    d.message.content_type = "application/json";
    d.message.content_encoding = "utf-8";
    d.message.headers = {{"lang", "py"},  {"task", task},
                         {"id", id},      {"retries", 0},
                         {"root_id", id}, {"timelimit", json::array({nullptr, nullptr})}};
    for (auto& [k, v] : extra_headers.items()) d.message.headers[k] = v;
    d.message.body = json::array({args, json::object(), nullptr}).dump();
    d.message.routing_key = "q";
    d.queue = "q";
    return d;
  }

  std::string isoIn(std::chrono::seconds offset) {
    const auto t = std::chrono::system_clock::to_time_t(loop_.clock().wallNow() + offset);
    char buf[64];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    return buf;
  }

  testing::FakeDispatcher loop_;
  tasks::TaskRegistry registry_;
  FakePorts fake_;
  std::unique_ptr<TaskPipeline> pipeline_;
  std::uint64_t next_tag_ = 1;
};

TEST_F(TaskPipelineTest, EchoStoresSuccessAndAcksOnlyAfterTheResultIsStored) {
  make();
  pipeline_->onDelivery(delivery("celeriac.echo", "t1", json::array({json{{"x", 1}}})));
  loop_.runReady();
  const auto* w = fake_.lastFor("t1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "SUCCESS");
  EXPECT_EQ(w->doc["result"], (json{{"x", 1}}));
  EXPECT_EQ(w->doc["task_id"], "t1");
  EXPECT_TRUE(fake_.acked.empty()) << "acked before the result was stored";
  fake_.completeAll();
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  EXPECT_EQ(pipeline_->running(), 0u);
  EXPECT_EQ(pipeline_->storing(), 0u);
}

TEST_F(TaskPipelineTest, EchoReturnsTheListForSeveralArguments) {
  make();
  pipeline_->onDelivery(delivery("celeriac.echo", "t1", json::array({1, "a"})));
  loop_.runReady();
  EXPECT_EQ(fake_.lastFor("t1")->doc["result"], json::array({1, "a"}));
}

TEST_F(TaskPipelineTest, UnknownTaskStoresNotRegisteredThenRejectsWithoutRequeue) {
  make();
  pipeline_->onDelivery(delivery("no.such", "t2", json::array()));
  const auto* w = fake_.lastFor("t2");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  EXPECT_EQ(w->doc["result"]["exc_type"], "NotRegistered");
  EXPECT_EQ(w->doc["result"]["exc_module"], "celery.exceptions");
  EXPECT_EQ(w->doc["result"]["exc_message"], json::array({"no.such"}));
  EXPECT_TRUE(fake_.rejected.empty()) << "rejected before the FAILURE was stored";
  fake_.completeAll();
  ASSERT_EQ(fake_.rejected.size(), 1u);
  EXPECT_FALSE(fake_.rejected[0].second);
  EXPECT_TRUE(fake_.acked.empty());
}

TEST_F(TaskPipelineTest, PickleIsRefusedWithContentDisallowed) {
  make();
  auto d = delivery("celeriac.echo", "t3", json::array());
  d.message.content_type = "application/x-python-serialize";
  d.message.content_encoding = "binary";
  d.message.body = std::string("\x80\x04\x95", 3);
  pipeline_->onDelivery(std::move(d));
  const auto* w = fake_.lastFor("t3");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["result"]["exc_type"], "ContentDisallowed");
  EXPECT_EQ(w->doc["result"]["exc_module"], "kombu.exceptions");
  fake_.completeAll();
  ASSERT_EQ(fake_.rejected.size(), 1u);
}

TEST_F(TaskPipelineTest, MessageWithoutReadableIdIsRejectedAtOnce) {
  make();
  amqp::Delivery d;
  d.ref = {1, 1};
  d.message.content_type = "application/json";
  d.message.body = "garbage";
  pipeline_->onDelivery(std::move(d));
  EXPECT_TRUE(fake_.writes.empty());
  ASSERT_EQ(fake_.rejected.size(), 1u);
  EXPECT_FALSE(fake_.rejected[0].second);
}

TEST_F(TaskPipelineTest, ExpiredTaskIsRevokedNotRunAndAcked) {
  make();
  pipeline_->onDelivery(delivery("celeriac.fail", "t4", json::array({"must not run"}),
                                 {{"expires", isoIn(seconds(-60))}}));
  loop_.runReady();
  const auto* w = fake_.lastFor("t4");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "REVOKED");
  EXPECT_EQ(w->doc["result"]["exc_type"], "TaskRevokedError");
  EXPECT_EQ(w->doc["result"]["exc_message"], json::array({"expired"}));
  EXPECT_EQ(fake_.writes.size(), 1u);
  fake_.completeAll();
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
}

TEST_F(TaskPipelineTest, EtaTaskIsHeldWithPrefetchRaisedAndRunsWhenDue) {
  make();
  pipeline_->onDelivery(
      delivery("celeriac.echo", "t5", json::array({"later"}), {{"eta", isoIn(seconds(8))}}));
  pipeline_->onDelivery(delivery("celeriac.echo", "t6", json::array({"now"})));
  loop_.runReady();
  EXPECT_EQ(pipeline_->held(), 1u);
  EXPECT_EQ(fake_.prefetch, std::vector<std::uint16_t>{9});
  EXPECT_EQ(fake_.lastFor("t5"), nullptr);
  ASSERT_NE(fake_.lastFor("t6"), nullptr) << "an ETA task must not block other work";
  loop_.advance(seconds(7));
  EXPECT_EQ(fake_.lastFor("t5"), nullptr);
  loop_.advance(seconds(2));
  ASSERT_NE(fake_.lastFor("t5"), nullptr);
  EXPECT_EQ(fake_.lastFor("t5")->doc["result"], "later");
  EXPECT_EQ(fake_.prefetch, (std::vector<std::uint16_t>{9, 8}));
}

TEST_F(TaskPipelineTest, ConcurrencyBoundsTasksInFlight) {
  PipelineOptions o;
  o.concurrency = 2;
  make(o);
  for (int i = 0; i < 3; ++i) {
    pipeline_->onDelivery(delivery("celeriac.sleep", "s" + std::to_string(i), json::array({1})));
  }
  EXPECT_EQ(pipeline_->running(), 2u);
  EXPECT_EQ(pipeline_->reserved(), 1u);
  loop_.advance(seconds(1));
  EXPECT_EQ(pipeline_->running(), 1u);
  EXPECT_EQ(pipeline_->reserved(), 0u);
  loop_.advance(seconds(1));
  EXPECT_EQ(pipeline_->running(), 0u);
  EXPECT_EQ(fake_.writes.size(), 3u);
}

TEST_F(TaskPipelineTest, NothingStartsWhileResultsCannotBeWritten) {
  make();
  fake_.accepting = false;
  pipeline_->onDelivery(delivery("celeriac.echo", "t7", json::array({1})));
  loop_.runReady();
  EXPECT_EQ(pipeline_->running(), 0u);
  EXPECT_EQ(pipeline_->reserved(), 1u);
  EXPECT_TRUE(fake_.writes.empty());
  fake_.accepting = true;
  pipeline_->pump();
  loop_.runReady();
  ASSERT_NE(fake_.lastFor("t7"), nullptr);
}

TEST_F(TaskPipelineTest, IgnoreResultStoresNothingAndAcksAtCompletion) {
  make();
  pipeline_->onDelivery(
      delivery("celeriac.echo", "t8", json::array({1}), {{"ignore_result", true}}));
  loop_.runReady();
  EXPECT_TRUE(fake_.writes.empty());
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
}

TEST_F(TaskPipelineTest, EarlyAckAcksAtStartBeforeTheTaskEnds) {
  PipelineOptions o;
  o.acks_late = false;
  make(o);
  pipeline_->onDelivery(delivery("celeriac.sleep", "t9", json::array({5})));
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  EXPECT_TRUE(fake_.writes.empty());
  loop_.advance(seconds(5));
  fake_.completeAll();
  EXPECT_EQ(fake_.acked.size(), 1u) << "acked twice";
}

TEST_F(TaskPipelineTest, HardTimeLimitCancelsTheTaskWithTimeLimitExceeded) {
  make();
  pipeline_->onDelivery(delivery("celeriac.sleep", "t10", json::array({60}),
                                 {{"timelimit", json::array({2, nullptr})}}));
  loop_.advance(seconds(2));
  const auto* w = fake_.lastFor("t10");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  EXPECT_EQ(w->doc["result"]["exc_type"], "TimeLimitExceeded");
  EXPECT_EQ(w->doc["result"]["exc_module"], "billiard.exceptions");
  loop_.advance(seconds(60));
  EXPECT_EQ(fake_.writes.size(), 1u) << "the cancelled sleep completed anyway";
}

TEST_F(TaskPipelineTest, TrackStartedStoresStartedWithPidAndHostname) {
  PipelineOptions o;
  o.track_started = true;
  o.hostname = "w@h";
  o.pid = 42;
  make(o);
  pipeline_->onDelivery(delivery("celeriac.sleep", "t11", json::array({1})));
  const auto* w = fake_.lastFor("t11");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "STARTED");
  EXPECT_EQ(w->doc["result"]["pid"], 42);
  EXPECT_EQ(w->doc["result"]["hostname"], "w@h");
}

TEST_F(TaskPipelineTest, FailTaskKeepsBuiltinTypesAndNamesOthersUnderCeleriacErrors) {
  make();
  pipeline_->onDelivery(delivery("celeriac.fail", "f1", json::array({"bad", "KeyError"})));
  pipeline_->onDelivery(delivery("celeriac.fail", "f2", json::array({"boom", "ModelDown"})));
  pipeline_->onDelivery(delivery("celeriac.fail", "f3", json::array()));
  loop_.runReady();
  EXPECT_EQ(fake_.lastFor("f1")->doc["result"]["exc_module"], "builtins");
  EXPECT_EQ(fake_.lastFor("f2")->doc["result"]["exc_module"], "celeriac.errors");
  EXPECT_EQ(fake_.lastFor("f2")->doc["result"]["exc_message"], json::array({"boom"}));
  EXPECT_EQ(fake_.lastFor("f3")->doc["result"]["exc_type"], "TypeError");
}

TEST_F(TaskPipelineTest, ChannelLossForgetsReservedAndHeldDeliveries) {
  PipelineOptions o;
  o.concurrency = 1;
  make(o);
  pipeline_->onDelivery(delivery("celeriac.sleep", "a", json::array({1})));
  pipeline_->onDelivery(delivery("celeriac.echo", "b", json::array({1})));
  pipeline_->onDelivery(
      delivery("celeriac.echo", "c", json::array({1}), {{"eta", isoIn(seconds(10))}}));
  EXPECT_EQ(pipeline_->reserved(), 1u);
  EXPECT_EQ(pipeline_->held(), 1u);
  pipeline_->onChannelLost();
  EXPECT_EQ(pipeline_->reserved(), 0u);
  EXPECT_EQ(pipeline_->held(), 0u);
  EXPECT_EQ(fake_.prefetch.back(), 8) << "prefetch must return to its base value";
  loop_.advance(seconds(20));
  // The running task still stores its result; b and c are redelivered by the broker.
  EXPECT_NE(fake_.lastFor("a"), nullptr);
  EXPECT_EQ(fake_.lastFor("b"), nullptr);
  EXPECT_EQ(fake_.lastFor("c"), nullptr);
}

TEST_F(TaskPipelineTest, FarEtaIsParkedNotHeldAndAckedOnlyAfterTheBrokerConfirms) {
  make();
  pipeline_->onDelivery(
      delivery("celeriac.echo", "p1", json::array({1}), {{"eta", isoIn(seconds(3600))}}));
  EXPECT_EQ(pipeline_->held(), 0u) << "an hour-ahead task must not occupy prefetch";
  EXPECT_TRUE(fake_.prefetch.empty());
  ASSERT_EQ(fake_.published.size(), 1u);
  EXPECT_EQ(fake_.published[0].first.exchange, "celeriac.delay.10m");
  EXPECT_EQ(fake_.published[0].first.routing_key, "q");
  EXPECT_TRUE(fake_.acked.empty()) << "acked before the broker confirmed the parked copy";
  EXPECT_EQ(pipeline_->parking(), 1u);
  fake_.published[0].second(true);
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  EXPECT_EQ(pipeline_->parking(), 0u);
  EXPECT_TRUE(fake_.writes.empty()) << "a countdown task has no state to store";
}

TEST_F(TaskPipelineTest, UnconfirmedParkReturnsTheMessageToItsQueue) {
  make();
  pipeline_->onDelivery(
      delivery("celeriac.echo", "p2", json::array({1}), {{"eta", isoIn(seconds(60))}}));
  ASSERT_EQ(fake_.published.size(), 1u);
  EXPECT_EQ(fake_.published[0].first.exchange, "celeriac.delay.5s");
  fake_.published[0].second(false);
  ASSERT_EQ(fake_.rejected.size(), 1u);
  EXPECT_TRUE(fake_.rejected[0].second) << "must requeue, never drop";
  EXPECT_TRUE(fake_.acked.empty());
}

TEST_F(TaskPipelineTest, NearEtaIsHeldNotParked) {
  make();
  pipeline_->onDelivery(
      delivery("celeriac.echo", "p3", json::array({1}), {{"eta", isoIn(seconds(5))}}));
  EXPECT_TRUE(fake_.published.empty());
  EXPECT_EQ(pipeline_->held(), 1u);
}

// Fails like an LLM task whose every model is down (llm_errors.h's wire form).
std::unique_ptr<tasks::TaskRun> allDown(const tasks::TaskContext& ctx, tasks::TaskDone done) {
  celery::ExceptionInfo e;
  e.type = "AllModelsUnavailable";
  e.module = "celeriac.errors";
  e.args =
      json::array({"all candidates unavailable", nullptr, json::array({"gpt-4o", "gpt-4o-mini"})});
  return tasks::TimerRun::start(ctx.dispatcher, milliseconds(0),
                                tasks::TaskOutcome::failure(std::move(e)), std::move(done));
}

TEST_F(TaskPipelineTest, AllModelsDownParksWithRetryStateAndAcksWhenBothAreDurable) {
  registry_.add("llm.down", &allDown);
  make();
  pipeline_->onDelivery(delivery("llm.down", "u1", json::array()));
  loop_.runReady();
  const auto* w = fake_.lastFor("u1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "RETRY");
  EXPECT_EQ(w->doc["result"]["exc_type"], "AllModelsUnavailable");
  EXPECT_NE(w->doc["result"]["exc_message"][0].get<std::string>().find("next attempt at"),
            std::string::npos);
  EXPECT_TRUE(fake_.published.empty()) << "the parked copy goes out once RETRY is stored";
  EXPECT_EQ(fake_.prefetch.back(), 1) << "prefetch lowered while every model is down";
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  EXPECT_EQ(fake_.published[0].first.exchange, "celeriac.delay.5s") << "first park: shortest tier";
  EXPECT_EQ(fake_.published[0].first.headers["x-celeriac-park-reason"], "all_models_unavailable");
  EXPECT_TRUE(fake_.acked.empty()) << "acked before the parked copy was confirmed";
  fake_.published[0].second(true);
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  loop_.advance(seconds(5));
  EXPECT_EQ(fake_.prefetch.back(), 8) << "prefetch restored once models may be back";
}

TEST_F(TaskPipelineTest, ParkedTooLongFailsWithAllModelsUnavailable) {
  registry_.add("llm.down", &allDown);
  PipelineOptions o;
  o.max_parked = std::chrono::minutes(60);
  make(o);
  const auto since = loop_.clock().wallNow() - std::chrono::minutes(61);
  char buf[64];
  const auto t = std::chrono::system_clock::to_time_t(since);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  pipeline_->onDelivery(delivery("llm.down", "u2", json::array(),
                                 {{"x-celeriac-parks", 9}, {"x-celeriac-parked-since", buf}}));
  loop_.runReady();
  const auto* w = fake_.lastFor("u2");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  EXPECT_EQ(w->doc["result"]["exc_type"], "AllModelsUnavailable");
  EXPECT_TRUE(fake_.published.empty());
  fake_.completeAll();
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
}

// ---- Task.retry (spec 4.1, 4.2) -----------------------------------------------------------

// The message the pipeline published, as the broker would deliver it back to queue "q".
amqp::Delivery redelivered(const amqp::OutgoingMessage& out, std::uint64_t tag) {
  amqp::Delivery d;
  d.ref = {1, tag};
  d.queue = "q";
  d.message.content_type = out.content_type;
  d.message.content_encoding = out.content_encoding;
  d.message.headers = out.headers;
  d.message.body = out.body;
  d.message.correlation_id = out.correlation_id;
  d.message.reply_to = out.reply_to;
  d.message.priority = out.priority;
  d.message.exchange = out.exchange;
  d.message.routing_key = out.routing_key;
  return d;
}

TEST_F(TaskPipelineTest, RetryStoresRetryThenRepublishesWithRetriesPlusOneAndEtaThenAcks) {
  make();
  pipeline_->onDelivery(delivery("celeriac.retry", "r1", json::array({1})));
  loop_.runReady();
  const auto* w = fake_.lastFor("r1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "RETRY");
  EXPECT_EQ(w->doc["result"], (json{{"exc_type", "RuntimeError"},
                                    {"exc_message", json::array({"retry 0"})},
                                    {"exc_module", "builtins"}}));
  const std::string traceback = w->doc["traceback"].get<std::string>();
  EXPECT_NE(traceback.find("\ncelery.exceptions.Retry: Retry in 1s: RuntimeError('retry 0')\n"),
            std::string::npos)
      << traceback;
  EXPECT_EQ(w->doc["children"], json::parse(R"([[["r1", null], null]])"));
  EXPECT_TRUE(w->doc["date_done"].is_null());
  EXPECT_TRUE(fake_.published.empty()) << "the copy goes out once RETRY is stored";
  EXPECT_EQ(pipeline_->parking(), 1u) << "shutdown must wait for the retry";

  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  const amqp::OutgoingMessage& out = fake_.published[0].first;
  EXPECT_EQ(out.exchange, "");
  EXPECT_EQ(out.routing_key, "q") << "back to the queue it came from";
  EXPECT_EQ(out.headers["id"], "r1") << "a retry keeps the task id";
  EXPECT_EQ(out.headers["task"], "celeriac.retry");
  EXPECT_EQ(out.headers["retries"], 1);
  EXPECT_EQ(out.headers["eta"], celery::formatIsoTime(loop_.clock().wallNow() + seconds(1)));
  EXPECT_EQ(out.headers["root_id"], "r1");
  EXPECT_EQ(out.headers["parent_id"], "r1") << "Celery's quirk: no parent -> its own id";
  EXPECT_EQ(out.correlation_id, "r1");
  EXPECT_EQ(json::parse(out.body)[0], json::array({1}));
  EXPECT_TRUE(fake_.acked.empty()) << "acked before the broker confirmed the retry";

  fake_.published[0].second(true);
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  EXPECT_EQ(pipeline_->parking(), 0u);
  EXPECT_EQ(pipeline_->storing(), 0u);
  EXPECT_EQ(pipeline_->counters().retried, 1u);
  EXPECT_EQ(pipeline_->counters().failed, 0u);
}

TEST_F(TaskPipelineTest, RetriedMessageRunsAgainWithItsRetriesAndSucceeds) {
  make();
  // succeed_after travels in kwargs: the body is written by hand.
  amqp::Delivery first = delivery("celeriac.retry", "r3", json::array({2}));
  first.message.body = json::array({json::array({2}), json{{"succeed_after", 1}}, nullptr}).dump();
  pipeline_->onDelivery(std::move(first));
  loop_.runReady();
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  const amqp::OutgoingMessage again = fake_.published[0].first;
  EXPECT_EQ(json::parse(again.body)[1], (json{{"succeed_after", 1}}));
  fake_.published[0].second(true);

  pipeline_->onDelivery(redelivered(again, 50));
  EXPECT_EQ(pipeline_->held(), 1u) << "the retry's eta is 2 s away: held";
  loop_.advance(seconds(2));
  const auto* w = fake_.lastFor("r3");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "SUCCESS");
  EXPECT_EQ(w->doc["result"], (json{{"retries", 1}}));
  EXPECT_EQ(w->doc["parent_id"], "r3");
  fake_.completeAll();
  EXPECT_NE(std::find(fake_.acked.begin(), fake_.acked.end(), 50u), fake_.acked.end());
}

TEST_F(TaskPipelineTest, RetryBeyondTheHoldLimitIsParkedInADelayTier) {
  make();
  pipeline_->onDelivery(delivery("celeriac.retry", "r4", json::array({3600})));
  loop_.runReady();
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  const amqp::OutgoingMessage& out = fake_.published[0].first;
  EXPECT_EQ(out.exchange, "celeriac.delay.10m");
  EXPECT_EQ(out.routing_key, "q") << "dead-letters back to the queue it came from";
  EXPECT_EQ(out.headers["x-celeriac-park-reason"], "retry");
  EXPECT_EQ(out.headers["x-celeriac-parks"], 1);
  EXPECT_EQ(out.headers["retries"], 1);
  EXPECT_EQ(out.headers["eta"], celery::formatIsoTime(loop_.clock().wallNow() + seconds(3600)));
  fake_.published[0].second(true);
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
}

TEST_F(TaskPipelineTest, RetryStartsItsParkBookkeepingAfresh) {
  make();
  pipeline_->onDelivery(delivery("celeriac.retry", "r5", json::array({1}),
                                 {{"x-celeriac-parks", 4},
                                  {"x-celeriac-parked-since", "2020-01-01T00:00:00+00:00"},
                                  {"x-celeriac-park-reason", "eta"}}));
  loop_.runReady();
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  const json& headers = fake_.published[0].first.headers;
  EXPECT_FALSE(headers.contains("x-celeriac-parks"));
  EXPECT_FALSE(headers.contains("x-celeriac-parked-since"));
  EXPECT_FALSE(headers.contains("x-celeriac-park-reason"));
}

TEST_F(TaskPipelineTest, UnconfirmedRetryReturnsTheOriginalToItsQueue) {
  make();
  pipeline_->onDelivery(delivery("celeriac.retry", "r6", json::array({1})));
  loop_.runReady();
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  fake_.published[0].second(false);
  EXPECT_TRUE(fake_.acked.empty());
  ASSERT_EQ(fake_.rejected.size(), 1u);
  EXPECT_EQ(fake_.rejected[0], (std::pair<std::uint64_t, bool>{1, true})) << "requeue, never drop";
  EXPECT_EQ(pipeline_->parking(), 0u);
}

TEST_F(TaskPipelineTest, MaxRetriesReachedFailsWithTheExceptionGivenToRetry) {
  make();
  pipeline_->onDelivery(delivery("celeriac.retry", "r7", json::array({1}), {{"retries", 3}}));
  loop_.runReady();
  EXPECT_TRUE(fake_.published.empty()) << "Celery publishes nothing once max_retries is used up";
  const auto* w = fake_.lastFor("r7");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  EXPECT_EQ(w->doc["result"], (json{{"exc_type", "RuntimeError"},
                                    {"exc_message", json::array({"retry 3"})},
                                    {"exc_module", "builtins"}}));
  EXPECT_FALSE(w->doc["date_done"].is_null());
  EXPECT_TRUE(fake_.acked.empty());
  fake_.completeAll();
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  EXPECT_EQ(pipeline_->counters().failed, 1u);
  EXPECT_EQ(pipeline_->counters().retried, 0u);
}

TEST_F(TaskPipelineTest, RetriesBelowTheLimitStillRetry) {
  make();
  pipeline_->onDelivery(delivery("celeriac.retry", "r8", json::array({1}), {{"retries", 2}}));
  loop_.runReady();
  EXPECT_EQ(fake_.lastFor("r8")->doc["status"], "RETRY");
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  EXPECT_EQ(fake_.published[0].first.headers["retries"], 3);
}

// retry() without exc, as `raise self.retry()` in Python.
std::unique_ptr<tasks::TaskRun> retryWithoutExc(const tasks::TaskContext& ctx,
                                                tasks::TaskDone done) {
  return tasks::TimerRun::start(ctx.dispatcher, milliseconds(0),
                                tasks::TaskOutcome::retry(std::nullopt), std::move(done));
}

TEST_F(TaskPipelineTest, MaxRetriesReachedWithoutExcFailsWithMaxRetriesExceededError) {
  registry_.add("t.noexc", &retryWithoutExc);
  make();
  amqp::Delivery d = delivery("t.noexc", "r9", json::array({1, "a"}), {{"retries", 3}});
  d.message.body = json::array({json::array({1, "a"}), json{{"k", nullptr}}, nullptr}).dump();
  pipeline_->onDelivery(std::move(d));
  loop_.runReady();
  EXPECT_TRUE(fake_.published.empty());
  const auto* w = fake_.lastFor("r9");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  EXPECT_EQ(w->doc["result"],
            (json{{"exc_type", "MaxRetriesExceededError"},
                  {"exc_message",
                   json::array({"Can't retry t.noexc[r9] args:(1, 'a') kwargs:{'k': None}"})},
                  {"exc_module", "celery.exceptions"}}));
}

TEST_F(TaskPipelineTest, RetryWithoutExcStoresNullResultAndUsesTheDefaultRetryDelay) {
  registry_.add("t.noexc", &retryWithoutExc);
  make();
  pipeline_->onDelivery(delivery("t.noexc", "r10", json::array()));
  loop_.runReady();
  const auto* w = fake_.lastFor("r10");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "RETRY");
  EXPECT_TRUE(w->doc["result"].is_null());
  EXPECT_NE(w->doc["traceback"].get<std::string>().find("celery.exceptions.Retry: Retry in 180s\n"),
            std::string::npos);
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  // Celery's default_retry_delay is 180 s: past the 10 s hold limit, so parked.
  EXPECT_EQ(fake_.published[0].first.exchange, "celeriac.delay.5s");
  EXPECT_EQ(fake_.published[0].first.headers["eta"],
            celery::formatIsoTime(loop_.clock().wallNow() + seconds(180)));
}

TEST_F(TaskPipelineTest, UnlimitedMaxRetriesNeverRunsOut) {
  tasks::TaskOptions unlimited;
  unlimited.max_retries = std::nullopt;
  unlimited.default_retry_delay = seconds(2);
  registry_.add("t.forever", &retryWithoutExc, unlimited);
  tasks::TaskOptions negative;
  negative.max_retries = -1;
  registry_.add("t.forever2", &retryWithoutExc, negative);
  make();
  pipeline_->onDelivery(delivery("t.forever", "r11", json::array(), {{"retries", 1000}}));
  pipeline_->onDelivery(delivery("t.forever2", "r12", json::array(), {{"retries", 50}}));
  loop_.runReady();
  EXPECT_EQ(fake_.lastFor("r11")->doc["status"], "RETRY");
  EXPECT_EQ(fake_.lastFor("r12")->doc["status"], "RETRY");
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 2u);
  EXPECT_EQ(fake_.published[0].first.headers["retries"], 1001);
  EXPECT_EQ(fake_.published[0].first.headers["eta"],
            celery::formatIsoTime(loop_.clock().wallNow() + seconds(2)))
      << "the task's own default_retry_delay";
  EXPECT_EQ(fake_.published[1].first.headers["retries"], 51);
}

TEST_F(TaskPipelineTest, RetryWithIgnoreResultStoresNothingAndAcksAfterConfirm) {
  make();
  pipeline_->onDelivery(
      delivery("celeriac.retry", "r13", json::array({1}), {{"ignore_result", true}}));
  loop_.runReady();
  EXPECT_TRUE(fake_.writes.empty());
  ASSERT_EQ(fake_.published.size(), 1u);
  EXPECT_EQ(fake_.published[0].first.headers["ignore_result"], true);
  fake_.published[0].second(true);
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
}

TEST_F(TaskPipelineTest, EarlyAckedRetryIsNeitherAckedNorRejectedAgain) {
  tasks::TaskOptions early;
  early.acks_late = false;
  registry_.add("t.early", &retryWithoutExc, early);
  make();
  pipeline_->onDelivery(delivery("t.early", "r14", json::array()));
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1}) << "acked at start";
  loop_.runReady();
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  fake_.published[0].second(false);
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  EXPECT_TRUE(fake_.rejected.empty()) << "rejecting an acked tag would close the channel";
}

TEST_F(TaskPipelineTest, RetryStoresExtendedFieldsOfTheRunThatAsked) {
  PipelineOptions o;
  o.result_extended = true;
  o.hostname = "celeriac@test";
  make(o);
  pipeline_->onDelivery(delivery("celeriac.retry", "r15", json::array({1}), {{"retries", 1}}));
  loop_.runReady();
  const auto* w = fake_.lastFor("r15");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "RETRY");
  EXPECT_EQ(w->doc["retries"], 1) << "the run's retries, not the new message's";
  EXPECT_EQ(w->doc["worker"], "celeriac@test");
  EXPECT_EQ(w->doc["queue"], "q");
}

}  // namespace
}  // namespace celeriac::worker::app
