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
    if (entry == nullptr) return Failure{};
    std::optional<TaskOutcome> outcome;
    auto handle = entry->handler(TaskContext{message, dispatcher_},
                                 [&](TaskOutcome o) { outcome = std::move(o); });
    EXPECT_FALSE(outcome.has_value()) << "completed inside the handler call";
    for (int i = 0; i < 100 && !outcome; ++i) dispatcher_.runReady();
    EXPECT_TRUE(outcome.has_value());
    return outcome.value_or(Failure{});
  }

  static json echoSignature() {
    return json{
        {"task", "celeriac.echo"}, {"args", json::array({"ignored"})}, {"kwargs", json::object()}};
  }

  // The value of a Success (a failed check and null otherwise).
  static json valueOf(const TaskOutcome& outcome) {
    const auto* success = std::get_if<Success>(&outcome);
    EXPECT_NE(success, nullptr);
    return success != nullptr ? success->value : json(nullptr);
  }
  static const json& appliesOf(const TaskOutcome& outcome) {
    return std::get<Success>(outcome).applies;
  }
  static const celery::ExceptionInfo& errorOf(const TaskOutcome& outcome) {
    return std::get<Failure>(outcome).error;
  }

  testing::FakeDispatcher dispatcher_;
  TaskRegistry registry_;
};

TEST_F(CeleryBuiltinsTest, MapCallsTheTaskWithEachItemInOrder) {
  const TaskOutcome out =
      run("celery.map", json::array({echoSignature(), json::array({1, json::array({2}), "x"})}));
  EXPECT_EQ(valueOf(out), json::array({1, json::array({2}), "x"}));
}

TEST_F(CeleryBuiltinsTest, StarmapSpreadsEachItemAsArgs) {
  const TaskOutcome out = run(
      "celery.starmap", json::array(),
      {{"task", echoSignature()}, {"it", json::array({json::array({1, 2}), json::array({3})})}});
  EXPECT_EQ(valueOf(out), json::parse("[[1, 2], 3]"));
}

TEST_F(CeleryBuiltinsTest, TheFirstFailureFailsTheMap) {
  const json fail = {{"task", "celeriac.fail"}};
  const TaskOutcome out = run("celery.map", json::array({fail, json::array({"boom", "x"})}));
  ASSERT_TRUE(std::holds_alternative<Failure>(out));
  EXPECT_EQ(errorOf(out).type, "RuntimeError");
  EXPECT_EQ(errorOf(out).args, json::array({"boom"}));
}

TEST_F(CeleryBuiltinsTest, UnknownInnerTaskIsNotRegistered) {
  const TaskOutcome out =
      run("celery.map", json::array({json{{"task", "nope"}}, json::array({1})}));
  ASSERT_TRUE(std::holds_alternative<Failure>(out));
  EXPECT_EQ(errorOf(out).type, "NotRegistered");
}

TEST_F(CeleryBuiltinsTest, AccumulateAndBackendCleanup) {
  EXPECT_EQ(valueOf(run("celery.accumulate", json::array({1, 2, 3}))), json::array({1, 2, 3}));
  EXPECT_EQ(valueOf(run("celery.accumulate", json::array({1, 2, 3}), {{"index", -1}})), 3);
  EXPECT_TRUE(
      std::holds_alternative<Failure>(run("celery.accumulate", json::array({1}), {{"index", 4}})));
  const TaskOutcome cleanup = run("celery.backend_cleanup", json::array());
  ASSERT_TRUE(std::holds_alternative<Success>(cleanup));
  EXPECT_TRUE(valueOf(cleanup).is_null());
}

TEST_F(CeleryBuiltinsTest, ChunksAppliesItsChunksSignature) {
  const json items = json::array({json::array({1}), json::array({2}), json::array({3})});
  const TaskOutcome out = run("celery.chunks", json::array({echoSignature(), items, 2}));
  ASSERT_TRUE(std::holds_alternative<Success>(out));
  EXPECT_EQ(appliesOf(out)["subtask_type"], "chunks");
  EXPECT_EQ(appliesOf(out)["kwargs"]["task"], echoSignature());
  EXPECT_EQ(appliesOf(out)["kwargs"]["it"], items);
  EXPECT_EQ(appliesOf(out)["kwargs"]["n"], 2);
  const TaskOutcome by_name =
      run("celery.chunks", json::array(), {{"task", echoSignature()}, {"it", items}, {"n", 3}});
  ASSERT_TRUE(std::holds_alternative<Success>(by_name));
  EXPECT_EQ(appliesOf(by_name)["kwargs"]["n"], 3);
  const TaskOutcome zero = run("celery.chunks", json::array({echoSignature(), items, 0}));
  ASSERT_TRUE(std::holds_alternative<Failure>(zero));
  EXPECT_EQ(errorOf(zero).type, "TypeError");
}

}  // namespace
}  // namespace celeriac::worker::tasks
