// TaskPipeline under `celery control` and `celery inspect`: revoked ids, revoke
// --terminate, the rate_limit and time_limit commands, pool resizing, what `inspect`
// lists, and the task events it reports, in Celery's order.

#include "task_pipeline_fixture.h"

#include <set>
#include "worker/celery/rate_limit.h"

namespace celeriac::worker::app::pipeline_test {
namespace {

// Records the events the pipeline reports, as "kind:id".
struct RecordingSink final : TaskEventSink {
  std::vector<std::string> seen;
  void received(const celery::TaskMessage& t) override { seen.push_back("received:" + t.id); }
  void started(const celery::TaskMessage& t) override { seen.push_back("started:" + t.id); }
  void succeeded(const celery::TaskMessage& t, const json&, double) override {
    seen.push_back("succeeded:" + t.id);
  }
  void failed(const celery::TaskMessage& t, const celery::ExceptionInfo& e) override {
    seen.push_back("failed:" + t.id + ":" + e.type);
  }
  void retried(const celery::TaskMessage& t, const celery::ExceptionInfo&) override {
    seen.push_back("retried:" + t.id);
  }
  void rejected(const celery::TaskMessage& t, bool requeue) override {
    seen.push_back("rejected:" + t.id + (requeue ? ":requeue" : ""));
  }
  void revoked(const celery::TaskMessage& t, bool terminated, bool expired) override {
    seen.push_back("revoked:" + t.id + (terminated ? ":terminated" : "") +
                   (expired ? ":expired" : ""));
  }
};

class TaskPipelineControlTest : public TaskPipelineTest {
 protected:
  void makeControlled(PipelineOptions options = {}) {
    options.prefetch = 8;
    PipelinePorts ports = fake_.ports();
    ports.is_revoked = [this](const std::string& id) { return revoked_.count(id) > 0; };
    ports.events = &sink_;
    pipeline_ = std::make_unique<TaskPipeline>(loop_, registry_, std::move(ports), options);
  }
  std::vector<std::string> activeIds() {
    std::vector<std::string> ids;
    pipeline_->forEachActive([&](const TaskPipeline::JobView& j) { ids.push_back(j.message.id); });
    return ids;
  }
  std::vector<std::string> reservedIds() {
    std::vector<std::string> ids;
    pipeline_->forEachReserved(
        [&](const TaskPipeline::JobView& j) { ids.push_back(j.message.id); });
    return ids;
  }

  std::uint64_t started(const std::string& task) {
    auto it = pipeline_->counters().total_by_task.find(task);
    return it == pipeline_->counters().total_by_task.end() ? 0 : it->second;
  }

  std::set<std::string> revoked_;
  RecordingSink sink_;
};

TEST_F(TaskPipelineControlTest, ARevokedTaskIsStoredRevokedAckedAndNeverRun) {
  makeControlled();
  revoked_.insert("t1");
  pipeline_->onDelivery(delivery("celeriac.echo", "t1", json::array({1})));
  loop_.runReady();
  const auto* w = fake_.lastFor("t1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "REVOKED");
  EXPECT_EQ(w->doc["result"]["exc_type"], "TaskRevokedError");
  EXPECT_EQ(w->doc["result"]["exc_message"], json::array({"revoked"}));
  fake_.completeAll();
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  EXPECT_EQ(started("celeriac.echo"), 0u) << "it ran";
  // Only task-revoked: Celery checks revocation before it would send task-received.
  EXPECT_EQ(sink_.seen, std::vector<std::string>{"revoked:t1"});
}

TEST_F(TaskPipelineControlTest, AnEtaTaskRevokedWhileHeldIsRevokedWhenDue) {
  makeControlled();
  pipeline_->onDelivery(
      delivery("celeriac.echo", "t1", json::array({1}), {{"eta", isoIn(seconds(5))}}));
  loop_.runReady();
  ASSERT_EQ(pipeline_->held(), 1u);
  revoked_.insert("t1");
  loop_.advance(seconds(6));
  EXPECT_EQ(fake_.lastFor("t1")->doc["status"], "REVOKED");
  EXPECT_EQ(started("celeriac.echo"), 0u);
}

TEST_F(TaskPipelineControlTest, TerminateCancelsARunningTaskStoresRevokedAndAcks) {
  makeControlled();
  pipeline_->onDelivery(delivery("celeriac.sleep", "s1", json::array({60})));
  loop_.runReady();
  ASSERT_EQ(activeIds(), std::vector<std::string>{"s1"});
  EXPECT_EQ(pipeline_->terminate({"s1", "unknown"}), std::vector<std::string>{"s1"});
  loop_.runReady();
  EXPECT_EQ(pipeline_->running(), 0u);
  const auto* w = fake_.lastFor("s1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "REVOKED");
  EXPECT_EQ(w->doc["result"]["exc_message"], json::array({"terminated"}));
  EXPECT_TRUE(fake_.acked.empty()) << "acked before REVOKED was stored";
  fake_.completeAll();
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  // Its sleep timer is gone: nothing completes it later.
  loop_.advance(seconds(61));
  EXPECT_EQ(fake_.lastFor("s1")->doc["status"], "REVOKED");
  EXPECT_EQ(sink_.seen,
            (std::vector<std::string>{"received:s1", "started:s1", "revoked:s1:terminated"}));
  EXPECT_TRUE(pipeline_->terminate({"s1"}).empty());
}

TEST_F(TaskPipelineControlTest, TerminatingAnEarlyAckedTaskDoesNotAckItTwice) {
  PipelineOptions o;
  o.acks_late = false;
  makeControlled(o);
  pipeline_->onDelivery(delivery("celeriac.sleep", "s1", json::array({60})));
  loop_.runReady();
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
  pipeline_->terminate({"s1"});
  loop_.runReady();
  fake_.completeAll();
  EXPECT_EQ(fake_.acked, std::vector<std::uint64_t>{1});
}

TEST_F(TaskPipelineControlTest, EventsComeInCelerysOrder) {
  makeControlled();
  pipeline_->onDelivery(delivery("celeriac.echo", "ok", json::array({1})));
  pipeline_->onDelivery(delivery("celeriac.fail", "bad", json::array({"boom"})));
  pipeline_->onDelivery(delivery("no.such.task", "nr", json::array({})));
  pipeline_->onDelivery(
      delivery("celeriac.echo", "old", json::array({1}), {{"expires", isoIn(seconds(-5))}}));
  loop_.runReady();
  EXPECT_EQ(sink_.seen,
            (std::vector<std::string>{"received:ok", "started:ok", "received:bad", "started:bad",
                                      "rejected:nr", "revoked:old:expired", "succeeded:ok",
                                      "failed:bad:RuntimeError"}));
}

TEST_F(TaskPipelineControlTest, ARateLimitSpacesStartsAndWaitingTasksAreReserved) {
  makeControlled();
  const auto one_per_second = celery::parseRateLimit("60/m");
  ASSERT_TRUE(one_per_second.ok());
  pipeline_->setRateLimit("celeriac.echo", *one_per_second);
  for (const char* id : {"a", "b", "c"}) {
    pipeline_->onDelivery(delivery("celeriac.echo", id, json::array({1})));
  }
  loop_.runReady();
  EXPECT_EQ(started("celeriac.echo"), 1u);
  EXPECT_EQ(reservedIds().size(), 2u);
  loop_.advance(milliseconds(999));
  EXPECT_EQ(started("celeriac.echo"), 1u);
  loop_.advance(milliseconds(2));
  EXPECT_EQ(started("celeriac.echo"), 2u);
  loop_.advance(seconds(1));
  EXPECT_EQ(started("celeriac.echo"), 3u);
  EXPECT_EQ(pipeline_->describeRateLimit("celeriac.echo"), "celeriac.echo [rate_limit=60/m]");
  // Other tasks are not held back, and a rate limit does not raise prefetch.
  pipeline_->onDelivery(delivery("celeriac.echo", "d", json::array({1})));
  pipeline_->onDelivery(delivery("celeriac.sleep", "s", json::array({0})));
  loop_.runReady();
  EXPECT_EQ(started("celeriac.sleep"), 1u);
  EXPECT_TRUE(fake_.prefetch.empty());
}

TEST_F(TaskPipelineControlTest, RemovingARateLimitReleasesTheWaitingTasksAtOnce) {
  makeControlled();
  pipeline_->setRateLimit("celeriac.echo", celery::parseRateLimit("1/h").value());
  for (const char* id : {"a", "b"})
    pipeline_->onDelivery(delivery("celeriac.echo", id, json::array({1})));
  loop_.runReady();
  ASSERT_EQ(started("celeriac.echo"), 1u);
  pipeline_->setRateLimit("celeriac.echo", celery::parseRateLimit("0").value());
  loop_.runReady();
  EXPECT_EQ(started("celeriac.echo"), 2u);
}

TEST_F(TaskPipelineControlTest, TimeLimitsComeFromTheMessageThenTheTaskThenTheWorker) {
  PipelineOptions o;
  o.default_hard_time_limit = 30;
  makeControlled(o);
  pipeline_->onDelivery(delivery("celeriac.sleep", "w", json::array({100})));
  loop_.runReady();
  loop_.advance(seconds(31));
  EXPECT_EQ(fake_.lastFor("w")->doc["result"]["exc_type"], "TimeLimitExceeded");

  pipeline_->setTimeLimits("celeriac.sleep", 5.0, 10.0);
  pipeline_->onDelivery(delivery("celeriac.sleep", "t", json::array({100})));
  loop_.runReady();
  loop_.advance(seconds(6));
  EXPECT_EQ(fake_.lastFor("t")->doc["result"]["exc_type"], "SoftTimeLimitExceeded");

  pipeline_->onDelivery(delivery("celeriac.sleep", "m", json::array({100}),
                                 {{"timelimit", json::array({2, nullptr})}}));  // [hard, soft]
  loop_.runReady();
  loop_.advance(seconds(3));
  EXPECT_EQ(fake_.lastFor("m")->doc["result"]["exc_type"], "TimeLimitExceeded");
}

TEST_F(TaskPipelineControlTest, GrowingThePoolStartsWaitingTasksAndRaisesPrefetch) {
  PipelineOptions o;
  o.concurrency = 1;
  makeControlled(o);
  for (const char* id : {"a", "b", "c"})
    pipeline_->onDelivery(delivery("celeriac.sleep", id, json::array({60})));
  loop_.runReady();
  EXPECT_EQ(pipeline_->running(), 1u);
  EXPECT_EQ(reservedIds(), (std::vector<std::string>{"b", "c"}));
  pipeline_->setConcurrency(3, 12);
  loop_.runReady();
  EXPECT_EQ(pipeline_->running(), 3u);
  EXPECT_EQ(pipeline_->concurrency(), 3u);
  EXPECT_EQ(fake_.prefetch, std::vector<std::uint16_t>{12});
  EXPECT_EQ(pipeline_->prefetchInForce(), 12);
}

TEST_F(TaskPipelineControlTest, InspectSeesActiveReservedAndScheduledTasks) {
  PipelineOptions o;
  o.concurrency = 1;
  makeControlled(o);
  pipeline_->onDelivery(delivery("celeriac.sleep", "run", json::array({60})));
  pipeline_->onDelivery(delivery("celeriac.sleep", "wait", json::array({60})));
  pipeline_->onDelivery(
      delivery("celeriac.echo", "later", json::array({1}), {{"eta", isoIn(seconds(5))}}));
  loop_.runReady();
  EXPECT_EQ(activeIds(), std::vector<std::string>{"run"});
  EXPECT_EQ(reservedIds(), std::vector<std::string>{"wait"});
  std::vector<std::string> scheduled;
  pipeline_->forEachScheduled([&](const TaskPipeline::JobView& j) {
    scheduled.push_back(j.message.id);
    EXPECT_TRUE(j.message.eta.has_value());
    EXPECT_FALSE(j.started.has_value());
  });
  EXPECT_EQ(scheduled, std::vector<std::string>{"later"});
  pipeline_->forEachActive([](const TaskPipeline::JobView& j) {
    EXPECT_TRUE(j.started.has_value());
    EXPECT_FALSE(j.acknowledged);  // acks_late: acked once its result is stored
  });
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline_test
