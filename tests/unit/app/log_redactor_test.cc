#include "worker/app/log_redactor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace celeriac::worker::app {
namespace {

TEST(LogRedactorTest, LeavesOrdinaryTaskLinesUntouchedWithoutCopying) {
  LogRedactor r;
  EXPECT_FALSE(
      r.redactIfNeeded("received task=celeriac.echo task_id=5f0c7a7e-1b2c-4d5e-8f90-"
                       "0123456789ab retries=0"));
  EXPECT_FALSE(r.redactIfNeeded("parked task_id=abc reason=eta tier=2s due_in_ms=1500 parks=1"));
  EXPECT_FALSE(
      r.redactIfNeeded("succeeded task=celeriac.sleep task-succeeded desk-lamp-1234567890abcdef"));
  EXPECT_FALSE(r.redactIfNeeded("broker connected amqp://guest:***@127.0.0.1:5672// generation=1"));
  EXPECT_FALSE(r.redactIfNeeded("llm call key=primary model=gpt-4o max_tokens=1024"));
  EXPECT_FALSE(r.redactIfNeeded(""));
}

TEST(LogRedactorTest, MasksThePasswordOfEveryUrlScheme) {
  LogRedactor r;
  EXPECT_EQ(r.redact("broker amqp://celeriac:Pa55word-x@rabbit:5672/prod lost"),
            "broker amqp://celeriac:***@rabbit:5672/prod lost");
  EXPECT_EQ(r.redact("backend redis://:hunter2@redis:6379/0"), "backend redis://:***@redis:6379/0");
  EXPECT_EQ(r.redact("fetch \"https://u:p@example.com/x\" failed"),
            "fetch \"https://u:***@example.com/x\" failed");
  EXPECT_EQ(r.redact("a amqps://u:one@h/ and redis://u:two@h"),
            "a amqps://u:***@h/ and redis://u:***@h");
}

TEST(LogRedactorTest, LeavesUrlsWithoutAPasswordAlone) {
  LogRedactor r;
  EXPECT_FALSE(r.redactIfNeeded("GET http://127.0.0.1:8080/v1/chat/completions"));
  EXPECT_FALSE(r.redactIfNeeded("https://user@example.com/ and http://host:80?mail=a@b"));
}

TEST(LogRedactorTest, MasksAuthorizationAndApiKeyHeadersKeepingTheScheme) {
  LogRedactor r;
  EXPECT_EQ(r.redact("Authorization: Bearer abc.def-ghi"), "Authorization: Bearer ***");
  EXPECT_EQ(r.redact("authorization:Basic dXNlcjpwYXNz"), "authorization:Basic ***");
  EXPECT_EQ(r.redact("x-api-key: anthropic-value, next"), "x-api-key: ***, next");
  EXPECT_EQ(r.redact("api-key: azure1"), "api-key: ***");
  EXPECT_EQ(r.redact(R"({"headers":{"Authorization":"Bearer tok123","X-Api-Key": "v"}})"),
            R"({"headers":{"Authorization":"Bearer ***","X-Api-Key": "***"}})");
  // An escaped JSON string inside a message (a provider body quoted in an error).
  EXPECT_EQ(r.redact(R"(body={\"api_key\":\"value-1\"})"), R"(body={\"api_key\":\"***\"})");
  EXPECT_EQ(r.redact("invalid header Bearer abcdefgh12 given"), "invalid header Bearer *** given");
}

TEST(LogRedactorTest, MasksPasswordsAndSecretsWhateverTheirValue) {
  LogRedactor r;
  EXPECT_EQ(r.redact("login password=x1 user=bob"), "login password=*** user=bob");
  EXPECT_EQ(r.redact("client_secret: abc; passwd=zz"), "client_secret: ***; passwd=***");
  EXPECT_EQ(r.redact("https://api.example.com/v1?api_key=abc&x=1"),
            "https://api.example.com/v1?api_key=***&x=1");
}

TEST(LogRedactorTest, MasksOnlyTokenLikeValuesAfterKeyOrToken) {
  LogRedactor r;
  EXPECT_EQ(r.redact("url ?key=AbCdEf0123456789xyz&alt=json"), "url ?key=***&alt=json");
  EXPECT_EQ(r.redact("session token=0f1e2d3c4b5a69788796a5b4c3d2e1f0 ok"), "session token=*** ok");
  EXPECT_EQ(r.redact("github_token: ab12cd34ef56ab12cd34"), "github_token: ***");
  // Aliases, words and dotted names are not secrets.
  EXPECT_FALSE(r.redactIfNeeded("key=primary token=short"));
  EXPECT_FALSE(r.redactIfNeeded("missing key: overall_category_description"));
  EXPECT_FALSE(r.redactIfNeeded("key=celeriac.tasks.analyze_waste_photo"));
}

TEST(LogRedactorTest, MasksProviderShapedKeysAnywhere) {
  LogRedactor r;
  EXPECT_EQ(r.redact("Incorrect API key provided: sk-test-SECRET123456789. You can find it"),
            "Incorrect API key provided: ***. You can find it");
  EXPECT_EQ(r.redact("keys sk-ant-api03-AbCdEfGhIjKlMnOp_qr and sk-proj-0123456789abcdefXYZ"),
            "keys *** and ***");
  EXPECT_EQ(r.redact("google AIzaSyA1234567890abcdefghijklmnopqrstu"), "google ***");
  EXPECT_EQ(r.redact("LLM_API_KEYS=gsk_0123456789abcdefghijkl,xai-0123456789abcdefghijkl"),
            "LLM_API_KEYS=***,***");
  // Too short to be a key, or inside a word.
  EXPECT_FALSE(r.redactIfNeeded("sk-short task-sk-0123456789abcdefghij"));
}

TEST(LogRedactorTest, MasksRegisteredSecretsWhereverTheyAppear) {
  LogRedactor r;
  EXPECT_TRUE(r.addSecret("plainvalue42"));
  EXPECT_EQ(r.redact("401 from stub: bad key plainvalue42 (plainvalue42)"),
            "401 from stub: bad key *** (***)");
  EXPECT_EQ(r.redact("prefixplainvalue42suffix"), "prefix***suffix");
  EXPECT_EQ(r.secretCount(), 1U);
  EXPECT_TRUE(r.addSecret("plainvalue42"));
  EXPECT_EQ(r.secretCount(), 1U);
}

TEST(LogRedactorTest, MasksALongerSecretWholeWhenItContainsAShorterOne) {
  LogRedactor r;
  ASSERT_TRUE(r.addSecret("abcdef"));
  ASSERT_TRUE(r.addSecret("abcdefghijkl"));
  EXPECT_EQ(r.redact("x abcdefghijkl y abcdef"), "x *** y ***");
}

TEST(LogRedactorTest, IgnoresSecretsTooShortToMaskSafely) {
  LogRedactor r;
  EXPECT_FALSE(r.addSecret("guest"));
  EXPECT_FALSE(r.addSecret(""));
  EXPECT_EQ(r.secretCount(), 0U);
  EXPECT_FALSE(r.redactIfNeeded("guest connected"));
}

TEST(LogRedactorTest, RegistersSecretsWhileOtherThreadsRedact) {
  // Sinks run on whichever thread logs while the app registers keys (a data race here
  // is what the ASan/UBSan build and TSan would report).
  LogRedactor r;
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> lines{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        lines.fetch_add(r.redact("value secret-1000 and secret-1199 here").size());
      }
    });
  }
  for (int i = 0; i < 200; ++i) r.addSecret("secret-" + std::to_string(1000 + i));
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(r.secretCount(), 200U);
  EXPECT_EQ(r.redact("value secret-1000 and secret-1199 here"), "value *** and *** here");
}

TEST(LogRedactorTest, RedactingResolverRegistersEveryResolvedKey) {
  LogRedactor r;
  int calls = 0;
  balancer::SecretResolver inner =
      [&calls](const balancer::SecretRef& ref) -> std::optional<std::string> {
    ++calls;
    if (ref.env == "MISSING") return std::nullopt;
    return "value-of-" + ref.env;
  };
  auto resolver = redactingResolver(inner, r);
  EXPECT_EQ(resolver(balancer::SecretRef{"OPENAI", "", std::nullopt}), "value-of-OPENAI");
  EXPECT_EQ(resolver(balancer::SecretRef{"MISSING", "", std::nullopt}), std::nullopt);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r.secretCount(), 1U);
  EXPECT_EQ(r.redact("provider said: value-of-OPENAI is revoked"), "provider said: *** is revoked");
}

TEST(LogRedactorTest, TheProcessWideRedactorIsOneInstance) {
  EXPECT_EQ(&logRedactor(), &logRedactor());
}

}  // namespace
}  // namespace celeriac::worker::app
