// LlmTasksConfig: shipped defaults, YAML overlay, relative paths, and refusals.
#include "worker/tasks/llm_tasks_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

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
  const auto c = loadLlmTasksConfig(dir / "tasks.yaml", sourceDir()).value();
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

template <typename T>
std::string errorOf(const common::Result<T>& result) {
  return result ? "(no error)" : result.error().message;
}

// The tasks config `yaml` parsed against the shipped defaults.
common::Result<LlmTasksConfig> parsed(const std::string& yaml) {
  auto doc = yamlToJson(yaml);
  if (!doc) return doc.error();
  return parseLlmTasksConfig(*doc, ".", sourceDir());
}

TEST(LlmTasksConfigTest, InvalidConfigNamesTheField) {
  const std::string space = errorOf(parsed("tasks:\n  analyze:\n    queue: has space\n"));
  EXPECT_NE(space.find("tasks.analyze.queue"), std::string::npos) << space;
  EXPECT_EQ(errorOf(parsed("tasks:\n  generate:\n    name: gpt5_analyzer.analyze\n")),
            "LLM tasks config: tasks.analyze.name and tasks.generate.name are both "
            "gpt5_analyzer.analyze");
  EXPECT_EQ(errorOf(yamlToJson("a: [unclosed")).rfind("not valid YAML: ", 0), 0u);
}

TEST(LlmTasksConfigTest, YamlScalarsBecomeTypedJson) {
  const auto j = yamlToJson("a: 1\nb: 2.5\nc: true\nd: ~\ne: '3'\nf: text\n").value();
  EXPECT_EQ(j, nlohmann::json::parse(R"({"a":1,"b":2.5,"c":true,"d":null,"e":"3","f":"text"})"));
}

// The tasks config used to pass strings that are not UTF-8 on to valijson, whose
// minLength count reads past a table on a run of continuation bytes (found in the
// balancer's config by tests/fuzz; an ASan global-buffer-overflow, and in a release
// build a config that loads with a garbled path). It is refused like the balancer's.
TEST(LlmTasksConfigTest, InvalidUtf8IsAClearErrorNamingTheField) {
  const auto dir = std::filesystem::temp_directory_path() / "celeriac_llm_cfg_utf8";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tasks.yaml")
      << "tasks:\n  analyze:\n    system_prompt: \"x\x80\x80\x80\x80\x80\x80\x80\x80y.txt\"\n";
  EXPECT_EQ(errorOf(loadLlmTasksConfig(dir / "tasks.yaml", sourceDir())),
            "LLM tasks config: tasks.analyze.system_prompt: is not valid UTF-8");
  std::filesystem::remove_all(dir);
  EXPECT_EQ(errorOf(yamlToJson("task_options:\n  \xC3: {}\n")),
            "LLM tasks config: task_options: has a key that is not valid UTF-8");
}

// The same YAML reading as the balancer's config (common/yaml_to_json.h).
TEST(LlmTasksConfigTest, KeysGivenTwiceAreRefusedAndYamlOneOneWordsStayStrings) {
  // A repeated key used to be the last one given, silently.
  EXPECT_EQ(errorOf(yamlToJson("tasks:\n  analyze:\n    queue: a\n    queue: b\n")),
            "LLM tasks config: tasks.analyze.queue: appears twice");
  EXPECT_EQ(errorOf(yamlToJson("tasks: {{a: 1}: 2}\n")),
            "LLM tasks config: tasks: keys must be plain strings, not lists or maps");
  const auto j = yamlToJson("a: yes\nb: on\nc: !!str 5\nd: \"600\"\n").value();
  EXPECT_EQ(j, nlohmann::json::parse(R"({"a":"yes","b":"on","c":"5","d":"600"})"));
  EXPECT_EQ(errorOf(parsed("task_options:\n  celeriac.echo: {ignore_result: yes}\n")),
            "LLM tasks config: task_options.celeriac.echo.ignore_result: must be true or false");
}

// Every tasks config shipped: the Deployments' one and the README's examples (each
// ```yaml block with a top-level tasks: or task_options:).
TEST(LlmTasksConfigTest, ShippedTasksConfigsLoad) {
  const auto k8s =
      loadLlmTasksConfig(sourceDir() / "deploy" / "k8s" / "base" / "config" / "tasks.yaml",
                         sourceDir())
          .value();
  EXPECT_EQ(k8s.analyze.timeout, std::chrono::milliseconds(60'000));
  EXPECT_EQ(k8s.generate.timeout, std::chrono::milliseconds(30'000));
  std::ifstream in(sourceDir() / "README.md");
  ASSERT_TRUE(in);
  std::stringstream readme;
  readme << in.rdbuf();
  const std::string text = readme.str();
  int found = 0;
  for (std::size_t at = text.find("```yaml\n"); at != std::string::npos;
       at = text.find("```yaml\n", at + 1)) {
    const std::size_t begin = at + 8;
    const std::string block = text.substr(begin, text.find("```", begin) - begin);
    if (!block.starts_with("tasks:") && !block.starts_with("task_options:") &&
        block.find("\ntasks:") == std::string::npos &&
        block.find("\ntask_options:") == std::string::npos) {
      continue;
    }
    SCOPED_TRACE(block);
    const auto doc = yamlToJson(block);
    ASSERT_TRUE(doc) << doc.error().message;
    EXPECT_EQ(errorOf(parseLlmTasksConfig(*doc, sourceDir(), sourceDir())), "(no error)");
    ++found;
  }
  EXPECT_GE(found, 1) << "the README's task_options example";
}

TEST(LlmTasksConfigTest, RegisterUsesConfiguredNamesAndFailsFastOnAMissingPrompt) {
  ::celeriac::testing::FakeDispatcher loop;
  ::celeriac::testing::FakeTransport http(loop);
  auto llm = balancer::Balancer::create(
                 balancer::ConfigLoader::fromYaml(task_tests::kBalancerYaml).value(), loop, http,
                 balancer::ConfigLoader::secretResolver({{"KEY_A", "k"}}, nullptr))
                 .value();
  auto config = LlmTasksConfig::defaults(sourceDir());
  config.analyze.name = "custom.analyze";
  TaskRegistry registry;
  ASSERT_TRUE(registerLlmTasks(registry, *llm, config));
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"celeriac.llm_stats", "custom.analyze",
                                                        "response_generator.generate"}));
  config.generate.user_prompt = "/nonexistent/user.txt";
  TaskRegistry other;
  EXPECT_EQ(errorOf(registerLlmTasks(other, *llm, config)),
            "cannot read prompt file /nonexistent/user.txt");
  EXPECT_TRUE(other.names().empty()) << "a refused registration adds no task";
}

}  // namespace
}  // namespace celeriac::worker::tasks
