// TaskPipeline running tasks: results stored before the ack, refusals, ETA holds,
// concurrency, time limits, channel loss. Parking and Task.retry are in
// pipeline/republish_test.cc.
#include <gtest/gtest.h>

#include "task_pipeline_fixture.h"

namespace celeriac::worker::app::pipeline_test {
namespace {

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

}  // namespace
}  // namespace celeriac::worker::app::pipeline_test
