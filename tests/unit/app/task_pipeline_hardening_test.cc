// TaskPipeline under input and handlers that misbehave: an exception is the task's
// FAILURE, never the end of the process; prefetch 0 stays unlimited; every stored
// outcome carries the result_extended fields.
#include <gtest/gtest.h>

#include <stdexcept>

#include "task_pipeline_fixture.h"

namespace celeriac::worker::app::pipeline_test {
namespace {

json chainOf(const std::string& task, const std::string& id) {
  json sig = {{"task", task},
              {"args", json::array()},
              {"kwargs", json::object()},
              {"options", {{"task_id", id}}},
              {"subtask_type", nullptr},
              {"immutable", false}};
  return json::array({sig});
}

TEST_F(TaskPipelineTest, AHandlerThatThrowsFailsItsTaskWithTheExceptionAndTheWorkerGoesOn) {
  registry_.add("test.throws", [](const tasks::TaskContext&, tasks::TaskDone) -> std::unique_ptr<tasks::TaskRun> {
    throw std::invalid_argument("bad argument from a handler");
  });
  make();
  pipeline_->onDelivery(delivery("test.throws", "t1", json::array()));
  loop_.runReady();
  const auto* w = fake_.lastFor("t1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  EXPECT_EQ(w->doc["result"]["exc_type"], "ValueError");
  EXPECT_EQ(w->doc["result"]["exc_module"], "builtins");
  EXPECT_EQ(w->doc["result"]["exc_message"], json::array({"bad argument from a handler"}));
  fake_.completeAll();
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  EXPECT_EQ(pipeline_->running(), 0u);
  // The next task runs as usual.
  pipeline_->onDelivery(delivery("celeriac.echo", "t2", json::array({7})));
  loop_.runReady();
  EXPECT_EQ(fake_.lastFor("t2")->doc["result"], 7);
}

TEST_F(TaskPipelineTest, ANlohmannTypeErrorInAHandlerIsATypeError) {
  registry_.add("test.type_error", [](const tasks::TaskContext& ctx, tasks::TaskDone) -> std::unique_ptr<tasks::TaskRun> {
    (void)ctx.message.args.at(0).get<std::string>();  // args[0] is a number
    return nullptr;
  });
  make();
  pipeline_->onDelivery(delivery("test.type_error", "t1", json::array({1})));
  loop_.runReady();
  const auto* w = fake_.lastFor("t1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["result"]["exc_type"], "TypeError");
}

TEST_F(TaskPipelineTest, UnlimitedPrefetchStaysUnlimitedWhileAnEtaTaskIsHeld) {
  // --prefetch-multiplier 0: it used to become basic.qos 1 once one ETA task was held.
  PipelineOptions options;
  options.prefetch = 0;
  pipeline_ = std::make_unique<TaskPipeline>(loop_, registry_, fake_.ports(), options);
  pipeline_->onDelivery(delivery("celeriac.echo", "t1", json::array({1}), {{"eta", isoIn(seconds(5))}}));
  EXPECT_EQ(pipeline_->held(), 1u);
  for (std::uint16_t sent : fake_.prefetch) EXPECT_EQ(sent, 0) << "a limit was set";
}

TEST_F(TaskPipelineTest, ExtendedFieldsAreStoredWhenAChainStepGoesOut) {
  PipelineOptions options;
  options.result_extended = true;
  make(options);
  auto d = delivery("celeriac.echo", "t1", json::array({5}));
  d.message.body =
      json::array({json::array({5}), json::object(),
                   {{"callbacks", nullptr}, {"errbacks", nullptr}, {"chain", chainOf("celeriac.echo", "t2")}, {"chord", nullptr}}})
          .dump();
  pipeline_->onDelivery(std::move(d));
  loop_.runReady();
  const auto* w = fake_.lastFor("t1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "SUCCESS");
  EXPECT_EQ(w->doc.value("name", json()), "celeriac.echo") << w->doc.dump();
  EXPECT_EQ(w->doc.value("args", json()), json::array({5}));
  EXPECT_EQ(fake_.published.size(), 1u);
}

TEST_F(TaskPipelineTest, ExtendedFieldsAreStoredForNotRegisteredAndExpiredTasks) {
  PipelineOptions options;
  options.result_extended = true;
  make(options);
  pipeline_->onDelivery(delivery("no.such", "t1", json::array({1})));
  pipeline_->onDelivery(delivery("celeriac.echo", "t2", json::array({2}), {{"expires", isoIn(seconds(-60))}}));
  const auto* refused = fake_.lastFor("t1");
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->doc["result"]["exc_type"], "NotRegistered");
  EXPECT_EQ(refused->doc.value("name", json()), "no.such") << refused->doc.dump();
  EXPECT_TRUE(refused->doc["traceback"].is_null());
  const auto* revoked = fake_.lastFor("t2");
  ASSERT_NE(revoked, nullptr);
  EXPECT_EQ(revoked->doc["status"], "REVOKED");
  EXPECT_EQ(revoked->doc.value("args", json()), json::array({2})) << revoked->doc.dump();
}

TEST_F(TaskPipelineTest, ABodyOverTheSizeLimitIsRefusedBeforeItIsDecoded) {
  PipelineOptions options;
  options.max_message_size = 1000;
  make(options);
  auto d = delivery("celeriac.echo", "t1", json::array({std::string(2000, 'x')}));
  pipeline_->onDelivery(std::move(d));
  const auto* w = fake_.lastFor("t1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  EXPECT_EQ(w->doc["result"]["exc_type"], "InvalidTaskError");
  const std::string message = w->doc["result"]["exc_message"][0];
  EXPECT_NE(message.find("--max-message-size"), std::string::npos) << message;
  fake_.completeAll();
  ASSERT_EQ(fake_.rejected.size(), 1u);
  EXPECT_FALSE(fake_.rejected[0].second) << "requeued";
  // At the limit it runs.
  pipeline_->onDelivery(delivery("celeriac.echo", "t2", json::array({1})));
  loop_.runReady();
  EXPECT_EQ(fake_.lastFor("t2")->doc["status"], "SUCCESS");
}

TEST_F(TaskPipelineTest, ARedeliveredMessageWhoseRunsKeepEndingTheWorkerIsFailedNotRunAgain) {
  make();  // max_task_crashes 3
  fake_.starts["celeriac-redelivered-starts-t1"] = 2;  // two redelivered runs never finished
  auto d = delivery("celeriac.echo", "t1", json::array({1}));
  d.message.redelivered = true;
  pipeline_->onDelivery(std::move(d));
  loop_.runReady();
  const auto* w = fake_.lastFor("t1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  EXPECT_EQ(w->doc["result"]["exc_type"], "WorkerLostError");
  EXPECT_EQ(w->doc["result"]["exc_module"], "billiard.exceptions");
  EXPECT_TRUE(fake_.rejected.empty()) << "rejected before the FAILURE was stored";
  fake_.completeAll();
  ASSERT_EQ(fake_.rejected.size(), 1u);
  EXPECT_FALSE(fake_.rejected[0].second) << "a poison message must not be requeued";
  EXPECT_EQ(pipeline_->running(), 0u);
}

TEST_F(TaskPipelineTest, ARedeliveredMessageUnderTheLimitRunsAndItsCountIsForgotten) {
  make();
  auto d = delivery("celeriac.echo", "t1", json::array({1}));
  d.message.redelivered = true;
  pipeline_->onDelivery(std::move(d));
  loop_.runReady();
  EXPECT_EQ(fake_.starts["celeriac-redelivered-starts-t1"], 1);
  EXPECT_EQ(fake_.lastFor("t1")->doc["status"], "SUCCESS");
  EXPECT_EQ(fake_.forgotten, std::vector<std::string>{"celeriac-redelivered-starts-t1"});
  // A first delivery costs no count at all.
  pipeline_->onDelivery(delivery("celeriac.echo", "t2", json::array({2})));
  loop_.runReady();
  EXPECT_EQ(fake_.starts.count("celeriac-redelivered-starts-t2"), 0u);
}

TEST_F(TaskPipelineTest, ALargeBodyHeldForItsEtaIsDecodedAgainWhenItStartsAndRunsWhole) {
  make();
  const std::string image = "data:image/png;base64," + std::string(200 * 1024, 'A');
  pipeline_->onDelivery(
      delivery("celeriac.echo", "t1", json::array({image}), {{"eta", isoIn(seconds(2))}}));
  EXPECT_EQ(pipeline_->held(), 1u);
  loop_.advance(seconds(3));
  loop_.runReady();
  const auto* w = fake_.lastFor("t1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "SUCCESS");
  EXPECT_EQ(w->doc["result"], image);
  EXPECT_FALSE(w->doc.contains("args")) << "args are rendered only with result_extended";
}

TEST_F(TaskPipelineTest, ARedeliveryOfATaskStillRunningHereIsNotCountedAsACrash) {
  // The connection dropped while celeriac.sleep ran: the broker redelivers it to this
  // same worker, whose run goes on. Counting that start made a flapping link fail a
  // healthy task with WorkerLostError (tests/reliability found it).
  make();
  pipeline_->onDelivery(delivery("celeriac.sleep", "t1", json::array({8})));
  loop_.runReady();
  ASSERT_EQ(pipeline_->running(), 1u);
  pipeline_->onChannelLost();
  for (int i = 0; i < 3; ++i) {
    auto again = delivery("celeriac.sleep", "t1", json::array({8}));
    again.message.redelivered = true;
    pipeline_->onDelivery(std::move(again));
    loop_.runReady();
  }
  EXPECT_TRUE(fake_.starts.empty()) << "a start was counted";
  loop_.advance(seconds(9));
  loop_.runReady();
  EXPECT_EQ(fake_.lastFor("t1")->doc["status"], "SUCCESS");
}

TEST_F(TaskPipelineTest, ATimeLimitTooLongForATimerIsNoLimit) {
  // timelimit [1e308, null], which Python runs: the millisecond count overflowed and
  // the task failed at once with TimeLimitExceeded.
  make();
  pipeline_->onDelivery(delivery("celeriac.sleep", "t1", json::array({1}),
                                 {{"timelimit", json::array({1e308, 1e308})}}));
  loop_.runReady();
  loop_.advance(seconds(2));
  loop_.runReady();
  EXPECT_EQ(fake_.lastFor("t1")->doc["status"], "SUCCESS");
}

TEST_F(TaskPipelineTest, FailWithABigIntegerMessageSaysItsDigits) {
  // Python's str(RuntimeError(10**400)); nlohmann's dump() wrote {"bytes":[49,48,...]}.
  make();
  const std::string digits = "1" + std::string(400, '0');
  auto d = delivery("celeriac.fail", "t1", json::array());
  d.message.body = "[[" + digits + "], {}, null]";
  pipeline_->onDelivery(std::move(d));
  loop_.runReady();
  const auto* w = fake_.lastFor("t1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["result"]["exc_message"], json::array({digits}));
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline_test
