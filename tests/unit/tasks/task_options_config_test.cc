// Per-task options from the tasks config: parsing, merging over registered options,
// and the start-up errors that name the task and the option.
#include "worker/tasks/task_options_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "llm_task_harness.h"
#include "worker/tasks/builtin_tasks.h"

namespace celeriac::worker::tasks {
namespace {

using nlohmann::json;
using task_tests::sourceDir;

// The Error's message, "" on success.
template <typename T>
std::string errorOf(const common::Result<T>& result) {
  return result ? "" : result.error().message;
}

TEST(TaskOptionsConfigTest, EveryCeleryOptionIsReadWithItsMeaning) {
  const TaskOptions o =
      *mergeTaskOptions(TaskOptions{}, "t",
                        json{{"time_limit", 30},
                             {"soft_time_limit", 2.5},
                             {"rate_limit", "10/m"},
                             {"ignore_result", true},
                             {"acks_late", false},
                             {"acks_on_failure_or_timeout", false},
                             {"reject_on_worker_lost", true},
                             {"max_retries", 7},
                             {"default_retry_delay", 1.5},
                             {"autoretry_for", {"ValueError", "celeriac.errors.LlmTimeout"}},
                             {"retry_backoff", true},
                             {"retry_backoff_max", 60},
                             {"retry_jitter", false},
                             {"track_started", true},
                             {"priority", 9}});
  EXPECT_EQ(o.time_limit, 30.0);
  EXPECT_EQ(o.soft_time_limit, 2.5);
  EXPECT_EQ(o.rate_limit, "10/m");
  EXPECT_TRUE(o.ignore_result);
  EXPECT_EQ(o.acks_late, false);
  EXPECT_FALSE(o.acks_on_failure_or_timeout);
  EXPECT_EQ(o.reject_on_worker_lost, true);
  EXPECT_EQ(o.max_retries, 7);
  EXPECT_EQ(o.default_retry_delay, std::chrono::milliseconds(1500));
  EXPECT_EQ(o.autoretry_for,
            (std::vector<std::string>{"ValueError", "celeriac.errors.LlmTimeout"}));
  EXPECT_EQ(o.retry_backoff, 1) << "true is a factor of 1, as int(True) in Celery";
  EXPECT_EQ(o.retry_backoff_max, 60);
  EXPECT_FALSE(o.retry_jitter);
  EXPECT_EQ(o.track_started, true);
  EXPECT_EQ(o.priority, 9);
}

TEST(TaskOptionsConfigTest, UnsetOptionsKeepTheRegisteredOnesAndNullMaxRetriesIsUnlimited) {
  TaskOptions base;
  base.max_retries = 3;
  base.track_started = true;
  const TaskOptions o = *mergeTaskOptions(base, "t", json{{"max_retries", nullptr}});
  EXPECT_FALSE(o.max_retries.has_value());
  EXPECT_EQ(o.track_started, true);
  EXPECT_EQ(o.default_retry_delay, std::chrono::milliseconds(180'000));
  EXPECT_EQ(o.retry_backoff_max, 600);
  EXPECT_TRUE(o.retry_jitter);
  EXPECT_TRUE(o.acks_on_failure_or_timeout);
}

TEST(TaskOptionsConfigTest, WrongNamesAndValuesAreErrorsNamingTaskAndOption) {
  const auto bad = [](json options) {
    return errorOf(mergeTaskOptions(TaskOptions{}, "celeriac.sleep", options));
  };
  EXPECT_NE(bad({{"soft_timelimit", 1}})
                .find("task_options.celeriac.sleep.soft_timelimit: unknown option"),
            std::string::npos);
  EXPECT_NE(bad({{"time_limit", -1}}).find("task_options.celeriac.sleep.time_limit: must be"),
            std::string::npos);
  EXPECT_NE(bad({{"rate_limit", "fast"}}).find("task_options.celeriac.sleep.rate_limit: invalid"),
            std::string::npos);
  EXPECT_NE(bad({{"priority", 256}}).find("task_options.celeriac.sleep.priority"),
            std::string::npos);
  EXPECT_NE(bad({{"acks_late", "yes"}}).find("task_options.celeriac.sleep.acks_late"),
            std::string::npos);
  EXPECT_NE(bad({{"autoretry_for", {"Value Error"}}}).find("autoretry_for"), std::string::npos);
  EXPECT_NE(bad({{"max_retries", 1.5}}).find("max_retries"), std::string::npos);
}

TEST(TaskOptionsConfigTest, OptionsApplyToRegisteredTasksAndUnknownTasksAreErrors) {
  TaskRegistry registry;
  registerBuiltinTasks(registry);
  ASSERT_TRUE(
      applyTaskOptions(registry, {{"celeriac.retry", json{{"default_retry_delay", 1}}}}, {}));
  EXPECT_EQ(registry.find("celeriac.retry")->options.default_retry_delay,
            std::chrono::milliseconds(1000));
  EXPECT_EQ(registry.find("celeriac.retry")->options.max_retries, 3) << "kept";
  const std::string error =
      errorOf(applyTaskOptions(registry, {{"celeriac.slep", json{{"priority", 1}}}}, {}));
  EXPECT_NE(error.find("task_options.celeriac.slep: no such task"), std::string::npos) << error;
  // The LLM tasks of the same file, on a worker without a balancer, are not an error.
  EXPECT_TRUE(applyTaskOptions(registry, {{"gpt5_analyzer.analyze", json{{"priority", 1}}}},
                               {"gpt5_analyzer.analyze"}));
}

TEST(TaskOptionsConfigTest, ConfigFileIsCheckedAgainstTheSchemaAndApplied) {
  const auto dir = std::filesystem::temp_directory_path() / "celeriac_task_options_cfg";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "ok.yaml") << R"(
task_options:
  celeriac.sleep: {soft_time_limit: 2, rate_limit: 5/s}
  gpt5_analyzer.analyze: {autoretry_for: [LlmTimeout], retry_backoff: 2}
)";
  std::ofstream(dir / "bad.yaml") << "task_options:\n  celeriac.sleep: {priority: high}\n";
  std::ofstream(dir / "bad_schema.yaml") << "tasks: {analyze: {nmae: x}}\n";
  TaskRegistry registry;
  registerBuiltinTasks(registry);
  ASSERT_EQ(errorOf(configureTaskOptions(registry, dir / "ok.yaml", sourceDir())), "");
  EXPECT_EQ(registry.find("celeriac.sleep")->options.soft_time_limit, 2.0);
  EXPECT_EQ(registry.find("celeriac.sleep")->options.rate_limit, "5/s");
  EXPECT_NE(errorOf(configureTaskOptions(registry, dir / "bad.yaml", sourceDir()))
                .find("task_options.celeriac.sleep.priority"),
            std::string::npos);
  EXPECT_FALSE(
      errorOf(configureTaskOptions(registry, dir / "bad_schema.yaml", sourceDir())).empty());
  EXPECT_TRUE(configureTaskOptions(registry, "", sourceDir()));  // no file: nothing to do
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace celeriac::worker::tasks
