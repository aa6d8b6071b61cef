// planRetry() and the Celery texts behind it (worker/celery/task_retry.h): what a retry
// republishes and stores, checked against Celery 5.2.6's task.py `retry`,
// `signature_from_request` and the captured RETRY documents (schemas/fixtures/celery/rs1.jsonl).

#include "worker/app/pipeline/retry_plan.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "worker/celery/iso_time.h"
#include "worker/celery/python_repr.h"
#include "worker/celery/task_retry.h"

namespace celeriac::worker::app::pipeline {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class RetryPlanTest : public ::testing::Test {
 protected:
  RetryPlanTest() {
    task_.id = "t1";
    task_.task = "app.flaky";
    task_.root_id = "t1";
    task_.args = json::array({1});
    task_.routing_key = "work";
    delivery_.queue = "work";
    ctx_.origin = "celeriac@host";
    ctx_.now = std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 56);
    ctx_.new_id = [] { return std::string("fresh"); };
    routing_.delay_tiers = {{"5s", milliseconds(5000)}, {"10m", milliseconds(600000)}};
  }

  RetryPlan plan(std::optional<milliseconds> countdown = seconds(1),
                 std::optional<celery::ExceptionInfo> exc = celery::makeException("KeyError", "k0",
                                                                                  "app")) {
    return planRetry(delivery_, task_, options_, tasks::Retry{std::move(exc), countdown}, routing_,
                     ctx_);
  }

  celery::TaskMessage task_;
  amqp::Delivery delivery_;
  tasks::TaskOptions options_;
  RetryRouting routing_;
  celery::CanvasContext ctx_;
};

TEST_F(RetryPlanTest, CarriesTheRequestIntoTheNewMessage) {
  task_.parent_id = "p0";
  task_.root_id = "root";
  task_.group_id = "g1";
  task_.group_index = 2;
  task_.shadow = "shown";
  task_.expires = ctx_.now + std::chrono::hours(1);
  task_.time_limits = {30.0, 20.0};
  task_.reply_to = "reply-q";
  task_.priority = 7;
  task_.kwargs = {{"k", "v"}};
  task_.custom_headers = {{"x_custom", "yes"}};
  task_.chain = json::array({json{{"task", "app.next"}, {"args", json::array()}}});
  task_.callbacks = json::array({json{{"task", "app.cb"}}});
  task_.retries = 1;
  const RetryPlan p = plan();
  ASSERT_FALSE(p.failure);
  const json& h = p.message.headers;
  EXPECT_EQ(h["id"], "t1");
  EXPECT_EQ(h["task"], "app.flaky");
  EXPECT_EQ(h["retries"], 2);
  EXPECT_EQ(h["root_id"], "root");
  EXPECT_EQ(h["parent_id"], "p0") << "an existing parent is kept";
  EXPECT_EQ(h["group"], "g1");
  EXPECT_EQ(h["group_index"], 2);
  EXPECT_EQ(h["shadow"], "shown");
  EXPECT_EQ(h["expires"], celery::formatIsoTime(*task_.expires));
  EXPECT_EQ(h["timelimit"], json::array({30.0, 20.0})) << "[hard, soft]";
  EXPECT_EQ(h["eta"], celery::formatIsoTime(ctx_.now + seconds(1)));
  EXPECT_EQ(h["x_custom"], "yes");
  EXPECT_EQ(h["argsrepr"], "(1,)") << "Python formats the signature's args tuple";
  EXPECT_EQ(h["kwargsrepr"], "{'k': 'v'}");
  EXPECT_EQ(h["origin"], "celeriac@host");
  EXPECT_EQ(p.message.reply_to, "reply-q");
  EXPECT_EQ(p.message.priority, std::optional<std::uint8_t>(7));
  EXPECT_EQ(p.message.correlation_id, "t1");
  const json body = json::parse(p.message.body);
  EXPECT_EQ(body[0], json::array({1}));
  EXPECT_EQ(body[1], (json{{"k", "v"}}));
  EXPECT_EQ(body[2]["chain"], task_.chain);
  EXPECT_EQ(body[2]["callbacks"], task_.callbacks);
  EXPECT_TRUE(body[2]["errbacks"].is_null());
  EXPECT_TRUE(body[2]["chord"].is_null());
  EXPECT_EQ(p.retries, 2);
  EXPECT_TRUE(p.tier.empty());
}

TEST_F(RetryPlanTest, GoesBackTheWayTheDeliveryCame) {
  const RetryPlan by_queue = plan();
  EXPECT_EQ(by_queue.message.exchange, "");
  EXPECT_EQ(by_queue.message.routing_key, "work");
  task_.exchange = "tasks";
  task_.routing_key = "tasks.flaky";
  const RetryPlan by_exchange = plan();
  EXPECT_EQ(by_exchange.message.exchange, "tasks");
  EXPECT_EQ(by_exchange.message.routing_key, "tasks.flaky");
}

TEST_F(RetryPlanTest, ZeroCountdownMeansNoEta) {
  const RetryPlan p = plan(milliseconds(0));
  EXPECT_TRUE(p.message.headers["eta"].is_null()) << "Python's falsy countdown sets no eta";
  EXPECT_EQ(p.message.routing_key, "work");
}

TEST_F(RetryPlanTest, CountdownPastTheHoldLimitParksInTheLongestTierThatFits) {
  const RetryPlan p = plan(seconds(1200));
  EXPECT_EQ(p.tier, "10m");
  EXPECT_EQ(p.message.exchange, "celeriac.delay.10m");
  EXPECT_EQ(p.message.routing_key, "work");
  EXPECT_EQ(p.message.headers["eta"], celery::formatIsoTime(ctx_.now + seconds(1200)));
  routing_.delay_tiers.clear();
  EXPECT_EQ(plan(seconds(1200)).message.exchange, "") << "no tiers: back to its queue";
}

TEST_F(RetryPlanTest, MaxRetriesCountsLikeCelery) {
  options_.max_retries = 3;
  task_.retries = 2;
  EXPECT_FALSE(plan().failure) << "retries + 1 == max_retries may still retry";
  task_.retries = 3;
  const RetryPlan p = plan();
  ASSERT_TRUE(p.failure);
  EXPECT_EQ(p.failure->type, "KeyError");
  options_.max_retries = 0;
  task_.retries = 0;
  EXPECT_TRUE(plan().failure) << "max_retries 0: never retried";
}

TEST_F(RetryPlanTest, MaxRetriesExceededErrorNamesTheTaskAndItsArguments) {
  task_.retries = 3;
  task_.args = json::array();
  const RetryPlan p = plan(seconds(1), std::nullopt);
  ASSERT_TRUE(p.failure);
  EXPECT_EQ(celery::encodeException(*p.failure),
            (json{{"exc_type", "MaxRetriesExceededError"},
                  {"exc_message", json::array({"Can't retry app.flaky[t1] args:() kwargs:{}"})},
                  {"exc_module", "celery.exceptions"}}));
}

TEST_F(RetryPlanTest, UnbuildableCanvasFailsWithInvalidTaskError) {
  task_.callbacks = 5;  // neither a signature nor a list of them
  const RetryPlan p = plan();
  ASSERT_TRUE(p.failure);
  EXPECT_EQ(p.failure->type, "InvalidTaskError");
}

TEST(RetryTextTest, RetryReasonIsStrOfCeleryRetry) {
  const auto exc = celery::makeException("KeyError", "k0", "app");
  EXPECT_EQ(celery::retryReason(exc, seconds(1)), "Retry in 1s: KeyError('k0')");
  EXPECT_EQ(celery::retryReason(std::nullopt, seconds(180)), "Retry in 180s");
  EXPECT_EQ(celery::retryReason(std::nullopt, milliseconds(1500)), "Retry in 1.5s");
}

TEST(RetryTextTest, PythonReprsOfTuplesAndExceptions) {
  EXPECT_EQ(celery::pythonTupleRepr(json::array()), "()");
  EXPECT_EQ(celery::pythonTupleRepr(json::array({1})), "(1,)");
  EXPECT_EQ(celery::pythonTupleRepr(json::array({1, "a", nullptr, true})), "(1, 'a', None, True)");
  EXPECT_EQ(celery::pythonExceptionRepr("ValueError", json::array()), "ValueError()");
  EXPECT_EQ(celery::pythonExceptionRepr("KeyError", json::array({"it's"})), "KeyError(\"it's\")");
  EXPECT_EQ(celery::pythonExceptionRepr("E", json::array({"boom", 42})), "E('boom', 42)");
}

TEST(RetryTextTest, RetryDocumentMatchesWhatCeleryStores) {
  celery::TaskMessage task;
  task.id = "4b029ddd";
  task.task = "rapp.flaky";
  const auto exc = celery::makeException("KeyError", "k0", "rapp");
  const json doc =
      json::parse(celery::renderResultDocument(celery::retryStateRecord(task, exc, seconds(1))));
  // schemas/fixtures/celery/rs1.jsonl, first RETRY of rapp.flaky (traceback frames aside).
  EXPECT_EQ(doc["status"], "RETRY");
  EXPECT_EQ(doc["result"], (json{{"exc_type", "KeyError"},
                                 {"exc_message", json::array({"k0"})},
                                 {"exc_module", "builtins"}}));
  const std::string tb = doc["traceback"].get<std::string>();
  EXPECT_EQ(tb.rfind("Traceback (most recent call last):\n", 0), 0u);
  EXPECT_EQ(tb.substr(tb.size() - 54), "\ncelery.exceptions.Retry: Retry in 1s: KeyError('k0')\n");
  EXPECT_EQ(doc["children"], json::parse(R"([[["4b029ddd", null], null]])"));
  EXPECT_TRUE(doc["date_done"].is_null());
  EXPECT_FALSE(doc.contains("parent_id"));
  EXPECT_EQ(doc["task_id"], "4b029ddd");
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline
