// TaskPipeline with Celery's per-task options (task_pipeline_options.cc): the start
// order of prefetched tasks, autoretry_for with retry_backoff, acks_on_failure_or_timeout,
// reject_on_worker_lost, and configured rate and time limits.
#include "task_pipeline_fixture.h"
#include "worker/celery/iso_time.h"

namespace celeriac::worker::app::pipeline_test {
namespace {

class TaskPipelineOptionsTest : public TaskPipelineTest {
 protected:
  void setOptions(const std::string& task, const std::function<void(tasks::TaskOptions&)>& edit) {
    tasks::TaskOptions o = registry_.find(task)->options;
    edit(o);
    registry_.setOptions(task, o);
  }
  amqp::Delivery withPriority(amqp::Delivery d, std::uint8_t priority) {
    d.message.priority = priority;
    return d;
  }
  std::size_t reservedCount() {
    std::size_t n = 0;
    pipeline_->forEachReserved([&n](const TaskPipeline::JobView&) { ++n; });
    return n;
  }
  std::vector<std::string> startOrder() {
    std::vector<std::string> ids;
    for (const auto& w : fake_.writes) {
      if (w.doc["status"] == "SUCCESS") ids.push_back(w.doc["task_id"].get<std::string>());
    }
    return ids;
  }
};

TEST_F(TaskPipelineOptionsTest, PrefetchedTasksStartByMessagePriorityThenArrival) {
  PipelineOptions o;
  o.concurrency = 1;
  make(o);
  // The first occupies the only slot; the rest wait in the ready queue.
  pipeline_->onDelivery(delivery("celeriac.sleep", "busy", json::array({1})));
  pipeline_->onDelivery(delivery("celeriac.echo", "low-1", json::array({1})));
  pipeline_->onDelivery(withPriority(delivery("celeriac.echo", "high", json::array({1})), 9));
  pipeline_->onDelivery(delivery("celeriac.echo", "low-2", json::array({1})));
  pipeline_->onDelivery(withPriority(delivery("celeriac.echo", "mid", json::array({1})), 5));
  std::vector<std::string> reserved;
  pipeline_->forEachReserved(
      [&](const TaskPipeline::JobView& v) { reserved.push_back(v.message.id); });
  EXPECT_EQ(reserved, (std::vector<std::string>{"high", "mid", "low-1", "low-2"}));
  for (int i = 0; i < 10; ++i) {
    loop_.advance(seconds(1));
    fake_.completeAll();
  }
  EXPECT_EQ(startOrder(), (std::vector<std::string>{"busy", "high", "mid", "low-1", "low-2"}));
}

TEST_F(TaskPipelineOptionsTest, ConfiguredPriorityStandsInOnlyForMessagesWithoutOne) {
  setOptions("celeriac.echo", [](tasks::TaskOptions& t) { t.priority = 7; });
  PipelineOptions o;
  o.concurrency = 1;
  make(o);
  pipeline_->onDelivery(delivery("celeriac.sleep", "busy", json::array({1})));
  pipeline_->onDelivery(withPriority(delivery("celeriac.sleep", "sleep-8", json::array({0})), 8));
  pipeline_->onDelivery(withPriority(delivery("celeriac.echo", "echo-1", json::array({1})), 1));
  pipeline_->onDelivery(delivery("celeriac.echo", "echo-none", json::array({1})));
  std::vector<std::string> reserved;
  pipeline_->forEachReserved(
      [&](const TaskPipeline::JobView& v) { reserved.push_back(v.message.id); });
  EXPECT_EQ(reserved, (std::vector<std::string>{"sleep-8", "echo-none", "echo-1"}));
}

TEST_F(TaskPipelineOptionsTest, AutoretryForRetriesWithGrowingBackoffThenRaisesTheException) {
  setOptions("celeriac.fail", [](tasks::TaskOptions& t) {
    t.autoretry_for = {"ValueError"};
    t.retry_backoff = 2;
    t.retry_jitter = false;
    t.max_retries = 2;
  });
  make();
  for (int retries = 0; retries <= 2; ++retries) {
    pipeline_->onDelivery(delivery("celeriac.fail", "a" + std::to_string(retries),
                                   json::array({"boom", "ValueError"}), {{"retries", retries}}));
  }
  loop_.runReady();
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 2u);
  EXPECT_EQ(fake_.published[0].first.headers["retries"], 1);
  EXPECT_EQ(fake_.published[0].first.headers["eta"],
            celery::formatIsoTime(loop_.clock().wallNow() + seconds(2)));
  EXPECT_EQ(fake_.published[1].first.headers["eta"],
            celery::formatIsoTime(loop_.clock().wallNow() + seconds(4)));
  EXPECT_EQ(fake_.lastFor("a0")->doc["status"], "RETRY");
  // Out of retries: the exception itself is the FAILURE, as Celery's retry(exc=exc).
  EXPECT_EQ(fake_.lastFor("a2")->doc["status"], "FAILURE");
  EXPECT_EQ(fake_.lastFor("a2")->doc["result"]["exc_type"], "ValueError");
}

TEST_F(TaskPipelineOptionsTest, OtherExceptionsAndHardTimeLimitsAreNotAutoretried) {
  setOptions("celeriac.fail", [](tasks::TaskOptions& t) { t.autoretry_for = {"KeyError"}; });
  setOptions("celeriac.sleep", [](tasks::TaskOptions& t) {
    t.autoretry_for = {"Exception"};
    t.time_limit = 1;
  });
  make();
  pipeline_->onDelivery(delivery("celeriac.fail", "f1", json::array({"x", "ValueError"})));
  pipeline_->onDelivery(delivery("celeriac.sleep", "s1", json::array({5})));
  loop_.advance(seconds(2));
  EXPECT_TRUE(fake_.published.empty());
  EXPECT_EQ(fake_.lastFor("f1")->doc["result"]["exc_type"], "ValueError");
  EXPECT_EQ(fake_.lastFor("s1")->doc["result"]["exc_type"], "TimeLimitExceeded");
}

TEST_F(TaskPipelineOptionsTest, SoftTimeLimitIsAnExceptionAutoretryCanCatch) {
  setOptions("celeriac.sleep", [](tasks::TaskOptions& t) {
    t.autoretry_for = {"SoftTimeLimitExceeded"};
    t.soft_time_limit = 1;
    t.default_retry_delay = seconds(3);
  });
  make();
  pipeline_->onDelivery(delivery("celeriac.sleep", "s2", json::array({5})));
  loop_.advance(seconds(1));
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  EXPECT_EQ(fake_.published[0].first.headers["eta"],
            celery::formatIsoTime(loop_.clock().wallNow() + seconds(3)))
      << "no retry_backoff: default_retry_delay";
}

TEST_F(TaskPipelineOptionsTest, ConfiguredTimeLimitsApplyAndTheMessageHeaderWins) {
  setOptions("celeriac.sleep", [](tasks::TaskOptions& t) { t.soft_time_limit = 1; });
  make();
  pipeline_->onDelivery(delivery("celeriac.sleep", "cfg", json::array({3})));
  pipeline_->onDelivery(delivery("celeriac.sleep", "msg", json::array({3}),
                                 {{"timelimit", json::array({nullptr, 10})}}));
  loop_.advance(seconds(4));
  EXPECT_EQ(fake_.lastFor("cfg")->doc["result"]["exc_type"], "SoftTimeLimitExceeded");
  EXPECT_EQ(fake_.lastFor("msg")->doc["status"], "SUCCESS");
}

TEST_F(TaskPipelineOptionsTest, ConfiguredRateLimitSpacesStartsAndIsListed) {
  setOptions("celeriac.echo", [](tasks::TaskOptions& t) { t.rate_limit = "1/s"; });
  make();
  pipeline_->onDelivery(delivery("celeriac.echo", "e1", json::array({1})));
  pipeline_->onDelivery(delivery("celeriac.echo", "e2", json::array({1})));
  loop_.runReady();
  EXPECT_EQ(reservedCount(), 1u) << "the second waits for its token";
  EXPECT_EQ(pipeline_->describeRateLimit("celeriac.echo"), "celeriac.echo [rate_limit=1/s]");
  loop_.advance(seconds(1));
  EXPECT_EQ(reservedCount(), 0u);
}

TEST_F(TaskPipelineOptionsTest, IgnoreResultStoresNothingButStillAcks) {
  setOptions("celeriac.echo", [](tasks::TaskOptions& t) { t.ignore_result = true; });
  make();
  pipeline_->onDelivery(
      delivery("celeriac.echo", "i1", json::array({1}), {{"ignore_result", false}}));
  loop_.runReady();
  EXPECT_TRUE(fake_.writes.empty());
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
}

TEST_F(TaskPipelineOptionsTest, NoAckOnFailureRejectsWithoutRequeueAfterStoring) {
  setOptions("celeriac.fail", [](tasks::TaskOptions& t) { t.acks_on_failure_or_timeout = false; });
  make();
  pipeline_->onDelivery(delivery("celeriac.fail", "n1", json::array({"x"})));
  pipeline_->onDelivery(delivery("celeriac.echo", "n2", json::array({1})));
  loop_.runReady();
  EXPECT_TRUE(fake_.rejected.empty()) << "not before the FAILURE is stored";
  fake_.completeAll();
  EXPECT_EQ(fake_.rejected, (std::vector<std::pair<std::uint64_t, bool>>{{1, false}}));
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{2});
  EXPECT_EQ(fake_.lastFor("n1")->doc["status"], "FAILURE");
}

TEST_F(TaskPipelineOptionsTest, RejectOnWorkerLostDecidesWhenARedeliveredRunIsPoison) {
  setOptions("celeriac.echo", [](tasks::TaskOptions& t) { t.reject_on_worker_lost = false; });
  setOptions("celeriac.sleep", [](tasks::TaskOptions& t) { t.reject_on_worker_lost = true; });
  make();
  auto redelivered = [this](const std::string& task, const std::string& id, json args) {
    amqp::Delivery d = delivery(task, id, std::move(args));
    d.message.redelivered = true;
    return d;
  };
  pipeline_->onDelivery(redelivered("celeriac.echo", "lost-1", json::array({1})));
  pipeline_->onDelivery(redelivered("celeriac.sleep", "lost-2", json::array({0})));
  loop_.runReady();
  EXPECT_EQ(fake_.lastFor("lost-1")->doc["result"]["exc_type"], "WorkerLostError")
      << "false: the first lost run fails it";
  EXPECT_EQ(fake_.starts.count("celeriac-redelivered-starts-lost-2"), 0u)
      << "true: requeued every time, never counted";
  EXPECT_EQ(fake_.lastFor("lost-2")->doc["status"], "SUCCESS");
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline_test
