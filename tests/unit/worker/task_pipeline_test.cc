#include "worker/app/task_pipeline.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fake_loop.h"
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
    d.message.headers = {{"lang", "py"}, {"task", task}, {"id", id}, {"retries", 0},
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
  pipeline_->onDelivery(delivery("celeriac.echo", "t5", json::array({"later"}),
                                 {{"eta", isoIn(seconds(8))}}));
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
  pipeline_->onDelivery(delivery("celeriac.echo", "t8", json::array({1}), {{"ignore_result", true}}));
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
  pipeline_->onDelivery(delivery("celeriac.echo", "c", json::array({1}), {{"eta", isoIn(seconds(10))}}));
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
  pipeline_->onDelivery(delivery("celeriac.echo", "p1", json::array({1}),
                                 {{"eta", isoIn(seconds(3600))}}));
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
  pipeline_->onDelivery(delivery("celeriac.echo", "p2", json::array({1}),
                                 {{"eta", isoIn(seconds(60))}}));
  ASSERT_EQ(fake_.published.size(), 1u);
  EXPECT_EQ(fake_.published[0].first.exchange, "celeriac.delay.5s");
  fake_.published[0].second(false);
  ASSERT_EQ(fake_.rejected.size(), 1u);
  EXPECT_TRUE(fake_.rejected[0].second) << "must requeue, never drop";
  EXPECT_TRUE(fake_.acked.empty());
}

TEST_F(TaskPipelineTest, NearEtaIsHeldNotParked) {
  make();
  pipeline_->onDelivery(delivery("celeriac.echo", "p3", json::array({1}),
                                 {{"eta", isoIn(seconds(5))}}));
  EXPECT_TRUE(fake_.published.empty());
  EXPECT_EQ(pipeline_->held(), 1u);
}

// Fails like an LLM task whose every model is down (llm_errors.h's wire form).
std::unique_ptr<tasks::TaskRun> allDown(const tasks::TaskContext& ctx, tasks::TaskDone done) {
  celery::ExceptionInfo e;
  e.type = "AllModelsUnavailable";
  e.module = "celeriac.errors";
  e.args = json::array({"all candidates unavailable", nullptr, json::array({"gpt-4o", "gpt-4o-mini"})});
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
  ASSERT_EQ(fake_.published.size(), 1u);
  EXPECT_EQ(fake_.published[0].first.exchange, "celeriac.delay.5s") << "first park: shortest tier";
  EXPECT_EQ(fake_.published[0].first.headers["x-celeriac-park-reason"], "all_models_unavailable");
  EXPECT_EQ(fake_.prefetch.back(), 1) << "prefetch lowered while every model is down";
  fake_.completeAll();
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

}  // namespace
}  // namespace celeriac::worker::app
