// The TaskPipeline tests' fixture: a fake loop, the builtin tasks, and FakePorts standing
// in for the broker and Redis. Shared by task_pipeline_test.cc (running tasks) and
// pipeline/republish_test.cc (parking and Task.retry).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_loop.h"
#include "worker/app/task_pipeline.h"
#include "worker/tasks/builtin_tasks.h"

namespace celeriac::worker::app::pipeline_test {

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
  std::map<std::string, long long> starts;  // poison detection's counts, by key
  std::vector<std::string> forgotten;

  PipelinePorts ports() {
    PipelinePorts p;
    p.ack = [this](amqp::DeliveryRef r) { acked.push_back(r.tag); };
    p.reject = [this](amqp::DeliveryRef r, bool requeue) { rejected.emplace_back(r.tag, requeue); };
    p.set_prefetch = [this](std::uint16_t n) { prefetch.push_back(n); };
    p.store = [this](std::string key, std::string doc, std::function<void()> done) {
      writes.push_back({std::move(key), json::parse(doc), std::move(done)});
    };
    p.count_start = [this](std::string key, std::function<void(long long)> done) {
      done(++starts[key]);
    };
    p.forget_starts = [this](std::string key) { forgotten.push_back(std::move(key)); };
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

}  // namespace celeriac::worker::app::pipeline_test
