// Celery's built-in tasks on celeriac (celery_builtins.h): celery.map / celery.starmap
// run the inner task's handler per item, in order; chunks hands its canvas to the
// pipeline; accumulate and backend_cleanup.

#include "worker/tasks/celery_builtins.h"

#include <gtest/gtest.h>

#include <optional>

#include "fake_loop.h"
#include "worker/tasks/builtin_tasks.h"

namespace celeriac::worker::tasks {
namespace {

using nlohmann::json;

class CeleryBuiltinsTest : public ::testing::Test {
 protected:
  CeleryBuiltinsTest() {
    registerBuiltinTasks(registry_);
    registerCeleryBuiltins(registry_);
  }

  TaskOutcome run(const std::string& name, json args, json kwargs = json::object()) {
    celery::TaskMessage message;
    message.id = "t";
    message.task = name;
    message.args = std::move(args);
    message.kwargs = std::move(kwargs);
    const TaskRegistry::Entry* entry = registry_.find(name);
    EXPECT_NE(entry, nullptr) << name;
    if (entry == nullptr) return TaskOutcome::failure({});
    std::optional<TaskOutcome> outcome;
    auto handle = entry->handler(TaskContext{message, dispatcher_},
                                 [&](TaskOutcome o) { outcome = std::move(o); });
    EXPECT_FALSE(outcome.has_value()) << "completed inside the handler call";
    for (int i = 0; i < 100 && !outcome; ++i) dispatcher_.runReady();
    EXPECT_TRUE(outcome.has_value());
    return outcome.value_or(TaskOutcome::failure({}));
  }

  static json echoSignature() {
    return json{
        {"task", "celeriac.echo"}, {"args", json::array({"ignored"})}, {"kwargs", json::object()}};
  }

  testing::FakeDispatcher dispatcher_;
  TaskRegistry registry_;
};

TEST_F(CeleryBuiltinsTest, MapCallsTheTaskWithEachItemInOrder) {
  const TaskOutcome out =
      run("celery.map", json::array({echoSignature(), json::array({1, json::array({2}), "x"})}));
  ASSERT_TRUE(out.ok);
  EXPECT_EQ(out.value, json::array({1, json::array({2}), "x"}));
}

TEST_F(CeleryBuiltinsTest, StarmapSpreadsEachItemAsArgs) {
  const TaskOutcome out = run(
      "celery.starmap", json::array(),
      {{"task", echoSignature()}, {"it", json::array({json::array({1, 2}), json::array({3})})}});
  ASSERT_TRUE(out.ok);
  EXPECT_EQ(out.value, json::parse("[[1, 2], 3]"));
}

TEST_F(CeleryBuiltinsTest, TheFirstFailureFailsTheMap) {
  const json fail = {{"task", "celeriac.fail"}};
  const TaskOutcome out = run("celery.map", json::array({fail, json::array({"boom", "x"})}));
  ASSERT_FALSE(out.ok);
  EXPECT_EQ(out.error.type, "RuntimeError");
  EXPECT_EQ(out.error.args, json::array({"boom"}));
}

TEST_F(CeleryBuiltinsTest, UnknownInnerTaskIsNotRegistered) {
  const TaskOutcome out =
      run("celery.map", json::array({json{{"task", "nope"}}, json::array({1})}));
  ASSERT_FALSE(out.ok);
  EXPECT_EQ(out.error.type, "NotRegistered");
}

TEST_F(CeleryBuiltinsTest, AccumulateAndBackendCleanup) {
  EXPECT_EQ(run("celery.accumulate", json::array({1, 2, 3})).value, json::array({1, 2, 3}));
  EXPECT_EQ(run("celery.accumulate", json::array({1, 2, 3}), {{"index", -1}}).value, 3);
  EXPECT_FALSE(run("celery.accumulate", json::array({1}), {{"index", 4}}).ok);
  const TaskOutcome cleanup = run("celery.backend_cleanup", json::array());
  ASSERT_TRUE(cleanup.ok);
  EXPECT_TRUE(cleanup.value.is_null());
}

TEST_F(CeleryBuiltinsTest, ChunksAppliesItsChunksSignature) {
  const json items = json::array({json::array({1}), json::array({2}), json::array({3})});
  const TaskOutcome out = run("celery.chunks", json::array({echoSignature(), items, 2}));
  ASSERT_TRUE(out.ok);
  EXPECT_EQ(out.applies["subtask_type"], "chunks");
  EXPECT_EQ(out.applies["kwargs"]["task"], echoSignature());
  EXPECT_EQ(out.applies["kwargs"]["it"], items);
  EXPECT_EQ(out.applies["kwargs"]["n"], 2);
  const TaskOutcome by_name =
      run("celery.chunks", json::array(), {{"task", echoSignature()}, {"it", items}, {"n", 3}});
  ASSERT_TRUE(by_name.ok);
  EXPECT_EQ(by_name.applies["kwargs"]["n"], 3);
  const TaskOutcome zero = run("celery.chunks", json::array({echoSignature(), items, 0}));
  ASSERT_FALSE(zero.ok);
  EXPECT_EQ(zero.error.type, "TypeError");
}

}  // namespace
}  // namespace celeriac::worker::tasks
