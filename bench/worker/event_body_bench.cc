// What a task's events cost the worker's CPU: the three bodies a task sends with -E
// (task-received, task-started, task-succeeded), appended to a task.multi batch as
// EventDispatcher does, written as text (event_body.cc), against the same bodies built
// as nlohmann trees and dumped (how event_body.cc built them before). Prints figures;
// never a test.
//
//   cmake --build build --target event_body_bench && ./build/bench/worker/event_body_bench

#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "worker/celery/event_body.h"
#include "worker/celery/python_repr.h"

namespace {

using celeriac::worker::celery::EventCommon;
using celeriac::worker::celery::TaskMessage;
using nlohmann::json;

TaskMessage echoTask() {
  TaskMessage m;
  m.id = "4410d731-67bd-4715-8338-196195ee0f9f";
  m.task = "celeriac.echo";
  m.root_id = m.id;
  m.argsrepr = "({'x': 1},)";
  m.kwargsrepr = "{}";
  m.args = json::array({json{{"x", 1}}});
  return m;
}

EventCommon common(std::uint64_t clock) {
  return EventCommon{"celery@bench-host", 0, 4242, clock, std::chrono::system_clock::now()};
}

void appendToBatch(std::string& batch, const std::string& event) {
  batch += batch.empty() ? "[" : ",";
  batch += event;
}

void BM_TaskEventsAsText(benchmark::State& state) {
  namespace celery = celeriac::worker::celery;
  const TaskMessage task = echoTask();
  const json result = json{{"x", 1}};
  std::uint64_t clock = 0;
  std::string batch;
  for (auto _ : state) {
    batch.clear();
    appendToBatch(batch, celery::taskReceivedEvent(common(++clock), task));
    appendToBatch(batch, celery::taskStartedEvent(common(++clock), task.id));
    appendToBatch(batch, celery::taskSucceededEvent(common(++clock), task.id, result,
                                                    std::chrono::duration<double>(0.0012)));
    benchmark::DoNotOptimize(batch.data());
  }
  state.SetLabel("3 events per task");
}
BENCHMARK(BM_TaskEventsAsText);

// The tree way, field for field what the text way writes.
json treeCommon(const char* type, const EventCommon& c) {
  json body = json::object();
  body["type"] = type;
  body["hostname"] = c.hostname;
  body["utcoffset"] = c.utcoffset_hours;
  body["pid"] = c.pid;
  body["clock"] = c.clock;
  body["timestamp"] = std::chrono::duration<double>(c.timestamp.time_since_epoch()).count();
  return body;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void BM_TaskEventsAsTrees(benchmark::State& state) {
  namespace celery = celeriac::worker::celery;
  const TaskMessage task = echoTask();
  const json result = json{{"x", 1}};
  std::uint64_t clock = 0;
  std::string batch;
  for (auto _ : state) {
    batch.clear();
    json received = treeCommon("task-received", common(++clock));
    received["uuid"] = task.id;
    received["name"] = task.task;
    received["args"] = task.argsrepr;
    received["kwargs"] = task.kwargsrepr;
    received["root_id"] = task.root_id;
    received["parent_id"] = nullptr;
    received["retries"] = task.retries;
    received["eta"] = nullptr;
    received["expires"] = nullptr;
    appendToBatch(batch, dump(received));
    json started = treeCommon("task-started", common(++clock));
    started["uuid"] = task.id;
    appendToBatch(batch, dump(started));
    json succeeded = treeCommon("task-succeeded", common(++clock));
    succeeded["uuid"] = task.id;
    succeeded["result"] = celery::pythonRepr(result);
    succeeded["runtime"] = 0.0012;
    appendToBatch(batch, dump(succeeded));
    benchmark::DoNotOptimize(batch.data());
  }
  state.SetLabel("3 events per task");
}
BENCHMARK(BM_TaskEventsAsTrees);

}  // namespace

BENCHMARK_MAIN();
