// TaskMetrics: celery-exporter's task metrics from the pipeline's task events, and the
// worker gauges from the 1 s refresh. No sockets: the registry is read directly.

#include "worker/metrics/task_metrics.h"

#include <gtest/gtest.h>

#include "registry_reader.h"
#include "worker/metrics/task_event_fanout.h"

namespace celeriac::worker::metrics {
namespace {

using test::render;
using test::sample;

celery::TaskMessage task(const std::string& id, const std::string& name,
                         const std::string& routing_key = "q1") {
  celery::TaskMessage m;
  m.id = id;
  m.task = name;
  m.routing_key = routing_key;
  return m;
}

celery::ExceptionInfo exc(const std::string& type, const std::string& message) {
  celery::ExceptionInfo e;
  e.type = type;
  e.module = "builtins";
  e.args = nlohmann::json::array({message});
  return e;
}

std::map<std::string, std::string> labels(const std::string& name, const std::string& queue) {
  return {{"name", name}, {"hostname", "host1"}, {"queue_name", queue}};
}

class TaskMetricsTest : public ::testing::Test {
 protected:
  prometheus::Registry registry_;
  TaskMetrics metrics_{registry_, "celery@host1"};
};

TEST_F(TaskMetricsTest, HostnameLabelIsTheHostPartOfTheNodeName) {
  EXPECT_EQ(TaskMetrics::hostLabel("celery@host1"), "host1");
  EXPECT_EQ(TaskMetrics::hostLabel("gen531@pod-7d9f8-x2k4q"), "pod-7d9f8-x2k4q");
  EXPECT_EQ(TaskMetrics::hostLabel("plainhost"), "plainhost");
}

TEST_F(TaskMetricsTest, CountsEachStepByTaskNameHostAndQueue) {
  const auto a = task("id-1", "tasks.add");
  const auto b = task("id-2", "tasks.add");
  metrics_.received(a);
  metrics_.started(a);
  metrics_.succeeded(a, nullptr, 0.2);
  metrics_.received(b);
  metrics_.started(b);
  metrics_.succeeded(b, nullptr, 3.0);
  const auto l = labels("tasks.add", "q1");
  EXPECT_EQ(sample(registry_, "celery_task_received_total", l), 2);
  EXPECT_EQ(sample(registry_, "celery_task_started_total", l), 2);
  EXPECT_EQ(sample(registry_, "celery_task_succeeded_total", l), 2);
  EXPECT_EQ(sample(registry_, "celery_task_runtime_seconds", l), 2);  // observations
  // The other counters of the set exist at 0, as celery-exporter shows them.
  EXPECT_EQ(sample(registry_, "celery_task_retried_total", l), 0);
  EXPECT_EQ(sample(registry_, "celery_task_rejected_total", l), 0);
  EXPECT_EQ(sample(registry_, "celery_task_revoked_total", l), 0);
}

TEST_F(TaskMetricsTest, FailuresAreLabelledWithTheExceptionClassLikeCeleryExporter) {
  const auto a = task("id-1", "tasks.div", "q2");
  metrics_.received(a);
  metrics_.failed(a, exc("ZeroDivisionError", "division"));
  EXPECT_EQ(sample(registry_, "celery_task_failed_total",
                   {{"name", "tasks.div"},
                    {"hostname", "host1"},
                    {"exception", "ZeroDivisionError"},
                    {"queue_name", "q2"}}),
            1);
}

TEST_F(TaskMetricsTest, RetriedRejectedAndRevokedAreCounted) {
  metrics_.retried(task("id-1", "t"), exc("Retry", "later"));
  metrics_.rejected(task("id-2", "t"), false);
  metrics_.revoked(task("id-3", "t"), true, false);
  const auto l = labels("t", "q1");
  EXPECT_EQ(sample(registry_, "celery_task_retried_total", l), 1);
  EXPECT_EQ(sample(registry_, "celery_task_rejected_total", l), 1);
  EXPECT_EQ(sample(registry_, "celery_task_revoked_total", l), 1);
}

TEST_F(TaskMetricsTest, NoTaskIdOrArgumentsInAnyLabel) {
  auto m = task("8c1e4d3a-unique-task-id", "tasks.add");
  m.argsrepr = "(secret-arg,)";
  metrics_.received(m);
  metrics_.failed(m, exc("ValueError", "free text message"));
  const std::string text = render(registry_);
  EXPECT_EQ(text.find("8c1e4d3a"), std::string::npos) << text;
  EXPECT_EQ(text.find("secret-arg"), std::string::npos) << text;
  EXPECT_EQ(text.find("free text message"), std::string::npos) << text;
}

TEST_F(TaskMetricsTest, AMessageWithoutRoutingKeyIsLabelledWithCeleryDefaultQueue) {
  metrics_.received(task("id-1", "t", ""));
  EXPECT_EQ(sample(registry_, "celery_task_received_total", labels("t", "celery")), 1);
}

TEST_F(TaskMetricsTest, RefreshSetsWorkerGaugesAndAddsNewParksToTheCounters) {
  EXPECT_EQ(sample(registry_, "celery_worker_up", {{"hostname", "host1"}}), 1);
  metrics_.refresh({true, 3, 10, 400, 2, 1});
  EXPECT_EQ(sample(registry_, "celery_worker_tasks_active", {{"hostname", "host1"}}), 3);
  EXPECT_EQ(sample(registry_, "celeriac_tasks_in_flight", {}), 10);
  EXPECT_EQ(sample(registry_, "celeriac_prefetch", {}), 400);
  EXPECT_EQ(sample(registry_, "celeriac_tasks_parked_total", {{"reason", "eta"}}), 2);
  EXPECT_EQ(
      sample(registry_, "celeriac_tasks_parked_total", {{"reason", "all_models_unavailable"}}),
      1);
  // The pipeline's counters are cumulative: a second refresh adds only the difference.
  metrics_.refresh({false, 0, 0, 1, 5, 1});
  EXPECT_EQ(sample(registry_, "celeriac_tasks_parked_total", {{"reason", "eta"}}), 5);
  EXPECT_EQ(
      sample(registry_, "celeriac_tasks_parked_total", {{"reason", "all_models_unavailable"}}),
      1);
  EXPECT_EQ(sample(registry_, "celery_worker_up", {{"hostname", "host1"}}), 0);
}

// (celery_task_failed_total has a sample only after a failure: its `exception` label
// has no value before one.)
TEST_F(TaskMetricsTest, RenderedTextUsesCeleryExporterFamilyNames) {
  metrics_.received(task("id-1", "t"));
  const std::string text = render(registry_);
  for (const char* family :
       {"# TYPE celery_task_received_total counter", "# TYPE celery_task_started_total counter",
        "# TYPE celery_task_succeeded_total counter",
        "# TYPE celery_task_retried_total counter", "# TYPE celery_task_rejected_total counter",
        "# TYPE celery_task_revoked_total counter", "# TYPE celery_task_runtime_seconds histogram",
        "# TYPE celery_worker_up gauge", "# TYPE celery_worker_tasks_active gauge"}) {
    EXPECT_NE(text.find(family), std::string::npos) << family << "\n" << text;
  }
}

// Records what it is told, for the fan-out test.
struct Recorder final : app::TaskEventSink {
  std::string name;
  std::vector<std::string>* log;
  Recorder(std::string n, std::vector<std::string>* l) : name(std::move(n)), log(l) {}
  void received(const celery::TaskMessage& t) override { log->push_back(name + ":received:" + t.id); }
  void started(const celery::TaskMessage& t) override { log->push_back(name + ":started:" + t.id); }
  void succeeded(const celery::TaskMessage& t, const nlohmann::json&, double) override {
    log->push_back(name + ":succeeded:" + t.id);
  }
  void failed(const celery::TaskMessage& t, const celery::ExceptionInfo&) override {
    log->push_back(name + ":failed:" + t.id);
  }
  void retried(const celery::TaskMessage& t, const celery::ExceptionInfo&) override {
    log->push_back(name + ":retried:" + t.id);
  }
  void rejected(const celery::TaskMessage& t, bool) override {
    log->push_back(name + ":rejected:" + t.id);
  }
  void revoked(const celery::TaskMessage& t, bool, bool) override {
    log->push_back(name + ":revoked:" + t.id);
  }
};

TEST(TaskEventFanoutTest, ForwardsEveryCallToEverySinkInOrder) {
  std::vector<std::string> log;
  Recorder a("a", &log);
  Recorder b("b", &log);
  TaskEventFanout fanout;
  fanout.add(&a);
  fanout.add(nullptr);  // ignored
  fanout.add(&b);
  const auto m = task("x", "t");
  fanout.received(m);
  fanout.revoked(m, false, true);
  EXPECT_EQ(log, (std::vector<std::string>{"a:received:x", "b:received:x", "a:revoked:x",
                                           "b:revoked:x"}));
}

}  // namespace
}  // namespace celeriac::worker::metrics
