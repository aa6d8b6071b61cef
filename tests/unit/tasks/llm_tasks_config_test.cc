// LlmTasksConfig: shipped defaults, YAML overlay, relative paths, and refusals.
#include "worker/tasks/llm_tasks_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "llm_task_harness.h"
#include "worker/tasks/llm_tasks.h"
#include "worker/tasks/prompt_template.h"

namespace celeriac::worker::tasks {
namespace {

using task_tests::sourceDir;

TEST(LlmTasksConfigTest, DefaultsNameTheTasksQueuesAndShippedFiles) {
  const auto c = LlmTasksConfig::defaults(sourceDir());
  EXPECT_EQ(c.analyze.name, "gpt5_analyzer.analyze");
  EXPECT_EQ(c.analyze.queue, "gpt5-analyzer");
  EXPECT_EQ(c.generate.name, "response_generator.generate");
  EXPECT_EQ(c.generate.queue, "response-generator");
  EXPECT_TRUE(std::filesystem::exists(c.analyze.system_prompt));
  EXPECT_TRUE(std::filesystem::exists(c.generate.user_prompt));
  EXPECT_TRUE(std::filesystem::exists(c.schema_dir / "analyze_input.schema.json"));
}

TEST(LlmTasksConfigTest, YamlOverlaysDefaultsAndResolvesPathsAgainstTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / "celeriac_llm_cfg";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tasks.yaml") << R"(
tasks:
  analyze:
    name: waste.analyze
    system_prompt: prompts/sys.txt
    routing: {task_type: vision, priority: high}
    timeout_s: 45
    temperature: 0.2
  generate:
    queue: "answers"
    max_tokens: 600
)";
  const auto c = loadLlmTasksConfig(dir / "tasks.yaml", sourceDir());
  EXPECT_EQ(c.analyze.name, "waste.analyze");
  EXPECT_EQ(c.analyze.queue, "gpt5-analyzer");
  EXPECT_EQ(c.analyze.system_prompt, dir / "prompts" / "sys.txt");
  EXPECT_EQ(c.analyze.task_type, "vision");
  EXPECT_EQ(c.analyze.priority, "high");
  EXPECT_EQ(c.analyze.timeout, std::chrono::milliseconds(45'000));
  EXPECT_EQ(c.analyze.temperature, 0.2);
  EXPECT_EQ(c.generate.queue, "answers");
  EXPECT_EQ(c.generate.max_tokens, 600);
  EXPECT_EQ(c.generate.task_type, "response_generation");
  std::filesystem::remove_all(dir);
}

TEST(LlmTasksConfigTest, InvalidConfigNamesTheField) {
  try {
    (void)parseLlmTasksConfig(yamlToJson("tasks:\n  analyze:\n    queue: has space\n"), ".",
                              sourceDir());
    FAIL() << "expected LlmTasksConfigError";
  } catch (const LlmTasksConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("tasks.analyze.queue"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      (void)parseLlmTasksConfig(
          yamlToJson("tasks:\n  generate:\n    name: gpt5_analyzer.analyze\n"), ".", sourceDir()),
      LlmTasksConfigError);
  EXPECT_THROW((void)yamlToJson("a: [unclosed"), LlmTasksConfigError);
}

TEST(LlmTasksConfigTest, YamlScalarsBecomeTypedJson) {
  const auto j = yamlToJson("a: 1\nb: 2.5\nc: true\nd: ~\ne: '3'\nf: text\n");
  EXPECT_EQ(j, nlohmann::json::parse(R"({"a":1,"b":2.5,"c":true,"d":null,"e":"3","f":"text"})"));
}

TEST(LlmTasksConfigTest, RegisterUsesConfiguredNamesAndFailsFastOnAMissingPrompt) {
  ::celeriac::testing::FakeDispatcher loop;
  ::celeriac::testing::FakeTransport http(loop);
  balancer::Balancer balancer(balancer::ConfigLoader::fromYaml(task_tests::kBalancerYaml), loop,
                              http,
                              balancer::ConfigLoader::secretResolver({{"KEY_A", "k"}}, nullptr));
  auto config = LlmTasksConfig::defaults(sourceDir());
  config.analyze.name = "custom.analyze";
  TaskRegistry registry;
  registerLlmTasks(registry, balancer, config);
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"celeriac.llm_stats", "custom.analyze",
                                                        "response_generator.generate"}));
  config.generate.user_prompt = "/nonexistent/user.txt";
  TaskRegistry other;
  EXPECT_THROW(registerLlmTasks(other, balancer, config), PromptError);
}

}  // namespace
}  // namespace celeriac::worker::tasks
