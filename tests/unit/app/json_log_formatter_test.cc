#include "worker/app/json_log_formatter.h"

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "worker/app/log_setup.h"

namespace celeriac::worker::app {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// 2024-05-01T12:00:07.123Z
system_clock::time_point fixedTime() {
  return system_clock::time_point(milliseconds(1714564807123));
}

std::string formatOne(spdlog::formatter& f, std::string_view logger,
                      spdlog::level::level_enum level, std::string_view text,
                      system_clock::time_point when = fixedTime()) {
  spdlog::details::log_msg msg(when, spdlog::source_loc{},
                               spdlog::string_view_t(logger.data(), logger.size()), level,
                               spdlog::string_view_t(text.data(), text.size()));
  spdlog::memory_buf_t buf;
  f.format(msg, buf);
  return std::string(buf.data(), buf.size());
}

TEST(JsonLogFormatterTest, WritesOneObjectPerLineWithTimeLevelLoggerAndMessage) {
  JsonLogFormatter f;
  const std::string line = formatOne(f, "celeriac", spdlog::level::warn, "broker connection lost");
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("time"), "2024-05-01T12:00:07.123Z");
  EXPECT_EQ(j.at("level"), "warning");
  EXPECT_EQ(j.at("logger"), "celeriac");
  EXPECT_EQ(j.at("message"), "broker connection lost");
  EXPECT_FALSE(j.contains("task_id"));
  EXPECT_FALSE(j.contains("root_id"));
  // The fields in reading order.
  EXPECT_EQ(line.rfind(R"({"time":"2024-05-01T12:00:07.123Z","level":"warning","logger":)", 0), 0U)
      << line;
}

TEST(JsonLogFormatterTest, CopiesTaskIdAndRootIdOutOfTaskLines) {
  JsonLogFormatter f;
  auto j = nlohmann::json::parse(
      formatOne(f, "celeriac.task", spdlog::level::info,
                "received task=celeriac.echo task_id=5f0c-11 root_id=aa-00 retries=0"));
  EXPECT_EQ(j.at("task_id"), "5f0c-11");
  EXPECT_EQ(j.at("root_id"), "aa-00");
  EXPECT_EQ(j.at("logger"), "celeriac.task");

  j = nlohmann::json::parse(
      formatOne(f, "celeriac.task", spdlog::level::err, "rejected task_id=abc-1: not JSON"));
  EXPECT_EQ(j.at("task_id"), "abc-1");
  EXPECT_EQ(j.at("level"), "error");
  EXPECT_FALSE(j.contains("root_id"));
}

TEST(JsonLogFormatterTest, FieldsCountOnlyAtAWordStart) {
  EXPECT_EQ(logField("parent_task_id=p1 task_id=t1", "task_id"), "t1");
  EXPECT_EQ(logField("parent_task_id=p1", "task_id"), std::nullopt);
  EXPECT_EQ(logField("task_id= x", "task_id"), std::nullopt);
  EXPECT_EQ(logField("task_id=\"with space\" next", "task_id"), "with space");
  EXPECT_EQ(logField("republish of task_id=t9, then", "task_id"), "t9");
  EXPECT_EQ(logField("task_id=t2", "task_id"), "t2");
}

TEST(JsonLogFormatterTest, KeepsAMultiLineMessageOnOneLine) {
  JsonLogFormatter f;
  const std::string line =
      formatOne(f, "celeriac", spdlog::level::err, "provider said:\n{\"error\": \"x\"}\r\n\ttab");
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(nlohmann::json::parse(line).at("message"),
            "provider said:\n{\"error\": \"x\"}\r\n\ttab");
}

TEST(JsonLogFormatterTest, ReplacesInvalidUtf8InsteadOfThrowing) {
  JsonLogFormatter f;
  const std::string bad = std::string("body ") + '\xff' + '\xfe' + " end";
  std::string line;
  ASSERT_NO_THROW(line = formatOne(f, "celeriac", spdlog::level::info, bad));
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("message"), "body \xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST(JsonLogFormatterTest, FormatsUtcMillisecondsAcrossSecondsWithItsCache) {
  JsonLogFormatter f;
  EXPECT_EQ(
      nlohmann::json::parse(formatOne(f, "c", spdlog::level::info, "a", fixedTime())).at("time"),
      "2024-05-01T12:00:07.123Z");
  EXPECT_EQ(nlohmann::json::parse(
                formatOne(f, "c", spdlog::level::info, "b", fixedTime() + milliseconds(877)))
                .at("time"),
            "2024-05-01T12:00:08.000Z");
  EXPECT_EQ(isoUtcMillis(system_clock::time_point(milliseconds(5))), "1970-01-01T00:00:00.005Z");
  EXPECT_NE(f.clone(), nullptr);
}

// The whole chain main.cc builds: a logger on makeWorkerLogSink over a stream.
struct CapturedLog {
  std::ostringstream out;
  LogRedactor redactor;
  std::shared_ptr<spdlog::logger> logger;

  explicit CapturedLog(std::string_view format) {
    logger = std::make_shared<spdlog::logger>(
        "celeriac",
        makeWorkerLogSink(std::make_shared<spdlog::sinks::ostream_sink_mt>(out), format, redactor));
  }
};

TEST(WorkerLogSinkTest, JsonLinesAreRedactedBeforeTheyAreFormatted) {
  CapturedLog log("json");
  log.redactor.addSecret("registered-key-value");
  log.logger->info("broker amqp://app:Pa55word-x@rabbit// lost");
  log.logger->clone("celeriac.task")
      ->error(
          "failed task=a task_id=t1 exc=AuthError: Incorrect API key provided: "
          "sk-test-SECRET123456789 (registered-key-value)");
  std::istringstream lines(log.out.str());
  std::string line;
  std::vector<nlohmann::json> objects;
  while (std::getline(lines, line)) objects.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(objects.size(), 2U);
  EXPECT_EQ(objects[0].at("message"), "broker amqp://app:***@rabbit// lost");
  EXPECT_EQ(objects[1].at("logger"), "celeriac.task");
  EXPECT_EQ(objects[1].at("task_id"), "t1");
  EXPECT_EQ(objects[1].at("message"),
            "failed task=a task_id=t1 exc=AuthError: Incorrect API key provided: *** (***)");
  for (const char* secret : {"Pa55word", "SECRET1234", "registered-key"}) {
    EXPECT_EQ(log.out.str().find(secret), std::string::npos) << secret;
  }
}

TEST(WorkerLogSinkTest, TextKeepsTheExistingPatternAndIsRedactedToo) {
  CapturedLog log("text");
  log.logger->warn("Authorization: Bearer abcdef123456 refused");
  const std::string text = log.out.str();
  EXPECT_NE(text.find("] [warning] [celeriac] Authorization: Bearer *** refused\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.front(), '[');
}

TEST(WorkerLogSinkTest, ALaterSetPatternCannotBypassTheFormatOrTheRedaction) {
  CapturedLog log("json");
  log.logger->set_pattern("%v");
  log.logger->info("password=hunter22");
  const auto j = nlohmann::json::parse(log.out.str());
  EXPECT_EQ(j.at("message"), "password=***");
}

TEST(WorkerLogSecretsTest, RegistersBrokerBackendAndSecretLookingEnvironmentValues) {
  WorkerConfig config;
  config.brokers.resize(2);
  config.brokers[0].password = "broker-pass-1";
  config.brokers[1].password = "guest";  // too short to mask everywhere: URLs only
  config.backend.password = "redis-pass-2";
  config.env = {{"STUB_API_KEY", "plain-stub-key-3"},
                {"LLM_API_KEYS", "first-key-4, second-key-5"},
                {"OPENAI_KEY_FILE", "/run/secrets/openai"},
                {"GITHUB_TOKEN", "gh-token-value-6"},
                {"LLM_MAX_TOKENS", "1000000"},
                {"KEYSET_NAME", "gpt5-analyzer"},
                {"HOME", "/home/worker"},
                {"QUEUE", "response-generator"}};
  LogRedactor r;
  registerWorkerSecrets(config, r);
  EXPECT_EQ(r.redact("broker-pass-1 redis-pass-2 plain-stub-key-3 first-key-4 second-key-5 "
                     "gh-token-value-6"),
            "*** *** *** *** *** ***");
  EXPECT_FALSE(
      r.redactIfNeeded("guest /run/secrets/openai 1000000 gpt5-analyzer /home/worker "
                       "response-generator"));
  EXPECT_EQ(r.secretCount(), 6U);
}

TEST(WorkerLogSecretsTest, SecretEnvNames) {
  for (const char* name :
       {"OPENAI_API_KEY", "STUB_API_KEY", "LLM_API_KEYS_0", "ANTHROPIC_KEY", "api_key", "HF_TOKEN",
        "DB_PASSWORD", "CLIENT_SECRET", "SECRET_KEY_BASE"}) {
    EXPECT_TRUE(isSecretEnvName(name)) << name;
  }
  for (const char* name : {"HOME", "KEYSET_NAME", "LLM_MAX_TOKENS", "TOKENIZERS_PARALLELISM",
                           "CELERY_BROKER_URL", "INSTANCE_ID"}) {
    EXPECT_FALSE(isSecretEnvName(name)) << name;
  }
}

}  // namespace
}  // namespace celeriac::worker::app
