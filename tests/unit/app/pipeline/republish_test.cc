// The Republisher (pipeline/republish.h), through the TaskPipeline that owns it:
// parking (far ETA, every model down) and Task.retry, each acked only once the broker
// has confirmed the copy and Redis has the state.
#include <gtest/gtest.h>

#include <algorithm>

#include "task_pipeline_fixture.h"
#include "worker/celery/iso_time.h"

namespace celeriac::worker::app::pipeline_test {
namespace {

// Same fixture; its own suite name, so `--gtest_filter=TaskPipelineRepublishTest.*` runs these.
class TaskPipelineRepublishTest : public TaskPipelineTest {};

TEST_F(TaskPipelineRepublishTest, FarEtaIsParkedNotHeldAndAckedOnlyAfterTheBrokerConfirms) {
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

TEST_F(TaskPipelineRepublishTest, UnconfirmedParkReturnsTheMessageToItsQueue) {
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

TEST_F(TaskPipelineRepublishTest, NearEtaIsHeldNotParked) {
  make();
  pipeline_->onDelivery(
      delivery("celeriac.echo", "p3", json::array({1}), {{"eta", isoIn(seconds(5))}}));
  EXPECT_TRUE(fake_.published.empty());
  EXPECT_EQ(pipeline_->held(), 1u);
}

// Ends like an LLM task whose every model is down (no retry time known).
std::unique_ptr<tasks::TaskRun> allDown(const tasks::TaskContext& ctx, tasks::TaskDone done) {
  return tasks::TimerRun::start(
      ctx.dispatcher, milliseconds(0),
      tasks::Unavailable{"all candidates unavailable", std::nullopt, {"gpt-4o", "gpt-4o-mini"}},
      std::move(done));
}

TEST_F(TaskPipelineRepublishTest, AllModelsDownParksWithRetryStateAndAcksWhenBothAreDurable) {
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

TEST_F(TaskPipelineRepublishTest, ParkedTooLongFailsWithAllModelsUnavailable) {
  registry_.add("llm.down", &allDown);
  PipelineOptions o;
  o.max_parked = std::chrono::minutes(60);
  make(o);
  pipeline_->onDelivery(delivery(
      "llm.down", "u2", json::array(),
      {{"x-celeriac-parks", 9}, {"x-celeriac-parked-since", isoIn(-std::chrono::minutes(61))}}));
  loop_.runReady();
  const auto* w = fake_.lastFor("u2");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  EXPECT_EQ(w->doc["result"]["exc_type"], "AllModelsUnavailable");
  EXPECT_TRUE(fake_.published.empty());
  fake_.completeAll();
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
}

// ---- Task.retry: the same id back to its queue with retries + 1, an eta and Celery's
// parent_id quirk; a RETRY result stored; the original acked only after both ---------------

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

TEST_F(TaskPipelineRepublishTest, RetryStoresRetryThenRepublishesWithRetriesPlusOneAndEtaThenAcks) {
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

TEST_F(TaskPipelineRepublishTest, RetriedMessageRunsAgainWithItsRetriesAndSucceeds) {
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

TEST_F(TaskPipelineRepublishTest, RetryBeyondTheHoldLimitIsParkedInADelayTier) {
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

TEST_F(TaskPipelineRepublishTest, RetryStartsItsParkBookkeepingAfresh) {
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

TEST_F(TaskPipelineRepublishTest, UnconfirmedRetryReturnsTheOriginalToItsQueue) {
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

TEST_F(TaskPipelineRepublishTest, MaxRetriesReachedFailsWithTheExceptionGivenToRetry) {
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

TEST_F(TaskPipelineRepublishTest, RetriesBelowTheLimitStillRetry) {
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
  return tasks::TimerRun::start(ctx.dispatcher, milliseconds(0), tasks::Retry{}, std::move(done));
}

TEST_F(TaskPipelineRepublishTest, MaxRetriesReachedWithoutExcFailsWithMaxRetriesExceededError) {
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

TEST_F(TaskPipelineRepublishTest, RetryWithoutExcStoresNullResultAndUsesTheDefaultRetryDelay) {
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

TEST_F(TaskPipelineRepublishTest, UnlimitedMaxRetriesNeverRunsOut) {
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

TEST_F(TaskPipelineRepublishTest, RetryWithIgnoreResultStoresNothingAndAcksAfterConfirm) {
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

TEST_F(TaskPipelineRepublishTest, EarlyAckedRetryIsNeitherAckedNorRejectedAgain) {
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

TEST_F(TaskPipelineRepublishTest, RetryStoresExtendedFieldsOfTheRunThatAsked) {
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
}  // namespace celeriac::worker::app::pipeline_test
