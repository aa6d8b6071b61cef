#pragma once
// LlmTaskHarness: runs the LLM task handlers against a real Balancer whose HTTP goes to
// a FakeTransport on a FakeDispatcher, so a test sees each request the task makes and
// answers it by hand. Paths point at the source tree (CELERIAC_SOURCE_DIR).

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "balancer/balancer.h"
#include "balancer/config_loader.h"
#include "fake_loop.h"
#include "worker/celery/task_message.h"
#include "worker/tasks/llm_errors.h"
#include "worker/tasks/llm_tasks.h"
#include "worker/tasks/llm_tasks_config.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks::task_tests {

inline std::filesystem::path sourceDir() { return CELERIAC_SOURCE_DIR; }
inline std::filesystem::path schemaDir() { return sourceDir() / "schemas"; }

// One endpoint, one model (m1), both task routes, a breaker that opens on the first
// failure and a short queue wait, so "all unavailable" is easy to reach.
inline constexpr const char* kBalancerYaml = R"(
timeout: 60
max_attempts: 3
max_queue_wait: 1
backoff: {base: 0.1, cap: 1}
circuit_breaker: {consecutive_failures: 1, cooldown: 60}
endpoints:
  - {name: e1, url: "http://e1/v1", models: [m1], api_key_env: KEY_A}
routes:
  waste_analysis: {normal: [m1]}
  response_generation: {normal: [m1]}
pricing:
  m1: {input: 1, output: 4}
)";

// An OpenAI chat completion carrying `content`.
inline std::string completion(const std::string& content, int prompt_tokens = 100,
                              int completion_tokens = 50) {
  return nlohmann::json{
      {"model", "m1"},
      {"choices",
       {{{"message", {{"role", "assistant"}, {"content", content}}}, {"finish_reason", "stop"}}}},
      {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}}}}
      .dump();
}

inline nlohmann::json validAnalysis() {
  return nlohmann::json::parse(R"({
    "items": [{"name": "PET bottle", "category": "plastic", "material": "PET",
               "needs_cleaning": true, "needs_separation": true, "confidence": 0.9}],
    "overall_category": "plastic", "reason": "A clear PET bottle."})");
}

inline nlohmann::json validGeneration() {
  return nlohmann::json::parse(R"({
    "answer": "Rinse the bottle, remove the label and put it in the PET bin.",
    "steps": [{"order": 1, "action": "Rinse the bottle", "item": "PET bottle"},
              {"order": 2, "action": "Remove the label"}]})");
}

class LlmTaskHarness : public ::testing::Test {
 protected:
  void SetUp() override {
    balancer_ =
        balancer::Balancer::create(
            balancer::ConfigLoader::fromYaml(kBalancerYaml).value(), loop_, http_,
            balancer::ConfigLoader::secretResolver({{"KEY_A", "sk-test-secret"}}, nullptr), 1)
            .value();
    const auto registered =
        registerLlmTasks(registry_, *balancer_, LlmTasksConfig::defaults(sourceDir()));
    EXPECT_TRUE(registered) << registered.error().message;
  }

  // Starts task `name` with args/kwargs; the outcome lands in outcomes_, the run in run_.
  void start(const std::string& name, nlohmann::json args,
             nlohmann::json kwargs = nlohmann::json::object()) {
    // Earlier runs stay alive (and in flight): destroying a run cancels it.
    if (run_) older_runs_.push_back(std::move(run_));
    auto& message = *messages_.emplace_back(std::make_unique<celery::TaskMessage>());
    message.id = "task-" + std::to_string(messages_.size());
    message.task = name;
    message.args = std::move(args);
    message.kwargs = std::move(kwargs);
    const auto* entry = registry_.find(name);
    ASSERT_NE(entry, nullptr) << name;
    TaskContext ctx{message, loop_};
    run_ = entry->handler(ctx, [this](TaskOutcome o) { outcomes_.push_back(std::move(o)); });
    ASSERT_NE(run_, nullptr);
    EXPECT_TRUE(outcomes_.empty()) << "done must never fire inside the handler";
  }
  void analyze(nlohmann::json args, nlohmann::json kwargs = nlohmann::json::object()) {
    start("gpt5_analyzer.analyze", std::move(args), std::move(kwargs));
  }
  void generate(nlohmann::json args, nlohmann::json kwargs = nlohmann::json::object()) {
    start("response_generator.generate", std::move(args), std::move(kwargs));
  }

  // Answers request `index` with a completion carrying `content`, then runs the loop.
  void answer(std::size_t index, const std::string& content, int prompt_tokens = 100,
              int completion_tokens = 50) {
    loop_.runReady();
    ASSERT_GT(http_.count(), index) << "the task sent no request #" << index;
    http_.reply(index, 200, completion(content, prompt_tokens, completion_tokens));
    loop_.runReady();
  }

  [[nodiscard]] nlohmann::json requestBody(std::size_t index) const {
    return nlohmann::json::parse(http_.request(index).body);
  }

  // The single outcome, which must be a failure; returns its exception (an Unavailable
  // one's AllModelsUnavailable, as stored when it cannot be parked).
  celery::ExceptionInfo onlyFailure() {
    loop_.runReady();
    EXPECT_EQ(outcomes_.size(), 1u);
    if (outcomes_.size() != 1) return {};
    if (const auto* unavailable = std::get_if<Unavailable>(&outcomes_[0])) {
      return unavailableError(*unavailable);
    }
    EXPECT_TRUE(std::holds_alternative<Failure>(outcomes_[0])) << valueOf(0).dump();
    return std::holds_alternative<Failure>(outcomes_[0]) ? std::get<Failure>(outcomes_[0]).error
                                                         : celery::ExceptionInfo{};
  }
  // The value of outcome `index` when it is a Success; null otherwise.
  [[nodiscard]] nlohmann::json valueOf(std::size_t index) const {
    const auto* success = std::get_if<Success>(&outcomes_.at(index));
    return success != nullptr ? success->value : nullptr;
  }
  // Why outcome `index` is not a Success, for assertion messages.
  [[nodiscard]] std::string whyNot(std::size_t index) const {
    if (const auto* failure = std::get_if<Failure>(&outcomes_.at(index))) {
      return messageOf(failure->error);
    }
    return std::holds_alternative<Success>(outcomes_.at(index)) ? "" : "not a Success";
  }
  static std::string messageOf(const celery::ExceptionInfo& e) {
    return e.args.is_array() && !e.args.empty() && e.args[0].is_string()
               ? e.args[0].get<std::string>()
               : e.args.dump();
  }

  ::celeriac::testing::FakeDispatcher loop_;
  ::celeriac::testing::FakeTransport http_{loop_};
  std::unique_ptr<balancer::Balancer> balancer_;
  TaskRegistry registry_;
  std::vector<std::unique_ptr<celery::TaskMessage>> messages_;  // outlive their runs
  std::vector<std::unique_ptr<TaskRun>> older_runs_;
  std::unique_ptr<TaskRun> run_;  // the latest run
  std::vector<TaskOutcome> outcomes_;
};

}  // namespace celeriac::worker::tasks::task_tests
