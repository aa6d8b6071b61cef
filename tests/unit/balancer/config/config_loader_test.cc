#include "balancer/config_loader.h"
#include "config_error_of.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;

using testing::errorOf;
using testing::pathOf;

constexpr const char* kThreeEndpoints = R"(
endpoints:
  - {name: a, url: "http://a:8000/v1"}
  - {name: b, url: "http://b:8000/v1"}
  - {name: c, url: "http://c:8000/v1", weight: WEIGHT}
)";

std::string withWeight(const std::string& w) {
  std::string s = kThreeEndpoints;
  s.replace(s.find("WEIGHT"), 6, w);
  return s;
}

TEST(ConfigLoaderTest, LoadsTheShippedExample) {
  std::ifstream in(std::string(CELERIAC_SOURCE_DIR) + "/balancer/config/example.yaml");
  ASSERT_TRUE(in) << "example.yaml not found";
  std::stringstream text;
  text << in.rdbuf();
  auto cfg = ConfigLoader::fromYaml(text.str()).value();
  EXPECT_EQ(cfg.strategy, StrategyKind::kWeighted);
  EXPECT_EQ(cfg.timeout, 60s);
  EXPECT_EQ(cfg.max_attempts, 4);
  ASSERT_EQ(cfg.endpoints.size(), 5u);
  EXPECT_EQ(cfg.endpoints[0].limits.at("gpt-4.1").rpm, 500);
  EXPECT_EQ(cfg.endpoints[0].limits.at("gpt-4.1").tpm, 150000);
  EXPECT_EQ(cfg.endpoints[1].provider, Provider::kAnthropic);
  EXPECT_EQ(cfg.endpoints[2].keys.at(0).secret.file, "/run/secrets/gemini-api-key");
  EXPECT_DOUBLE_EQ(cfg.pricing.at("deepseek-chat").input_per_mtok, 0.42);
  EXPECT_EQ(cfg.routes.size(), 18u);
  bool found = false;
  bool analysis_found = false;
  for (const auto& r : cfg.routes) {
    if (r.task_type == "general" && r.priority == "normal") {
      found = true;
      EXPECT_EQ(r.models,
                (std::vector<std::string>{"gpt-4.1-mini", "claude-3-5-sonnet-latest", "gpt-4.1"}));
    }
    // The worker's analysis task routes here by default: its chain must exist.
    if (r.task_type == "waste_analysis" && r.priority == "normal") {
      analysis_found = true;
      EXPECT_EQ(r.models.front(), "gpt-5");
    }
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(analysis_found);
  EXPECT_EQ(ConfigLoader::applyKeySet(cfg, {{"INSTANCE_ID", "3"}}).value(), "replica-1");
  EXPECT_EQ(cfg.endpoints[0].keys.at(0).alias, "openai-1");
  // Per-replica keys are this replica's own; the organisation key is shared by all.
  EXPECT_FALSE(cfg.endpoints[0].shared);
  EXPECT_FALSE(cfg.endpoints[0].keys.at(0).shared.value_or(false));
  EXPECT_TRUE(cfg.endpoints[4].shared);
  EXPECT_EQ(cfg.endpoints[4].replicas, 2);
  EXPECT_TRUE(usesSharedBuckets(cfg));
  EXPECT_EQ(cfg.capabilities.at("gpt-5").context_window, 400000);
  EXPECT_EQ(cfg.alerts.slow_call, 5s);
}

TEST(ConfigLoaderTest, ErrorNamesThePathOfABadWeight) {
  EXPECT_EQ(errorOf(withWeight("-1")), "endpoints[2].weight: must be a positive number");
  EXPECT_EQ(errorOf(withWeight("heavy")), "endpoints[2].weight: must be a positive number");
  EXPECT_EQ(errorOf(withWeight("2")), "(no error)");
}

TEST(ConfigLoaderTest, RejectsUnknownFieldsSoTyposAreCaught) {
  EXPECT_EQ(errorOf("endpoints:\n  - {url: 'http://a', wieght: 2}\n"),
            "endpoints[0].wieght: unknown field");
  EXPECT_EQ(errorOf("stratgy: weighted\nendpoints: [{url: 'http://a'}]\n"),
            "stratgy: unknown field");
}

TEST(ConfigLoaderTest, RejectsBadValuesWithTheirPaths) {
  EXPECT_EQ(errorOf("strategy: fastest\nendpoints: [{url: 'http://a'}]\n"),
            "strategy: must be one of round_robin, weighted, least_connections, random, "
            "latency, cost");
  EXPECT_EQ(errorOf("endpoints: [{url: 'ftp://a'}]\n"),
            "endpoints[0].url: must start with http:// or https://");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', provider: cohere}]\n"),
            "endpoints[0].provider: must be openai or anthropic");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', limits: {m: {rpm: 0}}}]\n"),
            "endpoints[0].limits.m.rpm: must be at least 1");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', temperature: 3}]\n"),
            "endpoints[0].temperature: must be between 0 and 2");
  EXPECT_EQ(errorOf("endpoints: []\n"), "endpoints: at least one endpoint is required");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', models: [m1]}]\n"
                    "routes: {general: {normal: [m1, m2]}}\n"),
            "routes.general.normal[1]: model 'm2' is served by no endpoint");
  EXPECT_EQ(errorOf("endpoints: [{name: x, url: 'http://a'}, {name: x, url: 'http://b'}]\n"),
            "endpoints[1].name: duplicate endpoint name 'x'");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', api_key_env: A, api_key_file: /f}]\n"),
            "endpoints[0].api_key_env: give either api_key_env or api_key_file, not both");
}

// Found by tests/fuzz (config_loader_fuzz, crashers/config_loader/): each of these was
// undefined behaviour or an exception out of fromYaml, where an Error was due.
TEST(ConfigLoaderTest, RejectsDurationsTooLongForMilliseconds) {
  constexpr const char* kEndpoint = "endpoints: [{url: 'http://a'}]\n";
  EXPECT_EQ(errorOf(std::string("timeout: 1e300\n") + kEndpoint),
            "timeout: must be at most 2592000 seconds (30 days)");
  EXPECT_EQ(errorOf(std::string("circuit_breaker: {cooldown: .inf}\n") + kEndpoint),
            "circuit_breaker.cooldown: must be at most 2592000 seconds (30 days)");
  EXPECT_EQ(errorOf(std::string("max_queue_wait: 2592000\n") + kEndpoint), "(no error)");
}

TEST(ConfigLoaderTest, RejectsCountsAnIntCannotHold) {
  constexpr const char* kEndpoint = "endpoints: [{url: 'http://a'}]\n";
  // 1 + retry_count overflowed int (the default max_attempts).
  EXPECT_EQ(errorOf(std::string("retry_count: 2147483647\n") + kEndpoint),
            "retry_count: must be at most 1000000");
  // Truncated to int, 2^32 + 1 passed the "at most 60" check as 1.
  EXPECT_EQ(errorOf(std::string("retry_budget: {window: 4294967297}\n") + kEndpoint),
            "retry_budget.window: must be at most 60");
  EXPECT_EQ(errorOf(std::string("health_check: {unhealthy_after: 4294967296}\n") + kEndpoint),
            "health_check.unhealthy_after: must be at most 1000000");
}

TEST(ConfigLoaderTest, RejectsKeysThatAreNotScalars) {
  // yaml-cpp's bad-conversion exception escaped fromYaml instead of an Error.
  EXPECT_EQ(errorOf("{[a]: 1}\n"), "(document): keys must be plain strings, not lists or maps");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', limits: {{m: 1}: {rpm: 1}}}]\n"),
            "endpoints[0].limits: keys must be plain strings, not lists or maps");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a'}]\nroutes: {general: {[x]: [m]}}\n"),
            "routes.general: keys must be plain strings, not lists or maps");
}

TEST(ConfigLoaderTest, DuplicateKeysAndInvalidUtf8AreErrorsAtTheirPath) {
  // common::yamlToJson refuses them; fromYaml says so as an Error naming its path.
  EXPECT_EQ(pathOf("pricing:\n  m: {input: 1}\n  m: {input: 2}\n"), "pricing.m");
  EXPECT_EQ(errorOf("pricing:\n  m: {input: 1}\n  m: {input: 2}\n"), "pricing.m: appears twice");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', name: \"\x9c\x9a\x9c\x9a\x9c\x9a\x9c\x9a\"}]\n"),
            "endpoints[0].name: is not valid UTF-8");
}

TEST(ConfigLoaderTest, InvalidYamlReportsTheLine) {
  EXPECT_EQ(
      errorOf("endpoints:\n  - {url: 'http://a'\n").rfind("(document): invalid YAML at line", 0),
      0u);
}

TEST(ConfigLoaderTest, MaxAttemptsDefaultsToOnePlusRetryCount) {
  auto cfg = ConfigLoader::fromYaml("retry_count: 4\nendpoints: [{url: 'http://a'}]\n").value();
  EXPECT_EQ(cfg.max_attempts, 5);
}

TEST(ConfigLoaderEnvTest, ReadsTheSeedsEnvironmentForm) {
  const EnvMap env = {{"LLM_ENDPOINTS", "http://a:8000/v1, http://b:8000/v1/"},
                      {"LLM_API_KEYS", "sk-aaa,sk-bbb"},
                      {"LLM_STRATEGY", "least_connections"},
                      {"LLM_HEALTH_CHECK", "true"},
                      {"LLM_TIMEOUT", "30"}};
  const auto cfg = ConfigLoader::fromEnv(env).value();
  ASSERT_EQ(cfg.endpoints.size(), 2u);
  EXPECT_EQ(cfg.endpoints[1].base_url, "http://b:8000/v1");
  EXPECT_EQ(cfg.endpoints[1].keys.at(0).secret.env, "LLM_API_KEYS");
  EXPECT_EQ(cfg.endpoints[1].keys.at(0).secret.list_index, 1u);
  EXPECT_EQ(cfg.strategy, StrategyKind::kLeastConnections);
  EXPECT_TRUE(cfg.health_check.enabled);
  EXPECT_EQ(cfg.timeout, 30s);
}

TEST(ConfigLoaderEnvTest, MismatchedKeyCountNeverEchoesKeys) {
  const std::string error = errorOf(
      ConfigLoader::fromEnv({{"LLM_ENDPOINTS", "http://a"}, {"LLM_API_KEYS", "sk-x,sk-y"}}));
  EXPECT_EQ(error, "LLM_API_KEYS: has 2 entries but LLM_ENDPOINTS has 1");
  EXPECT_EQ(error.find("sk-"), std::string::npos);
}

TEST(ConfigLoaderEnvTest, RejectsBadValues) {
  EXPECT_EQ(errorOf(ConfigLoader::fromEnv({})), "LLM_ENDPOINTS: is required");
  EXPECT_EQ(errorOf(ConfigLoader::fromEnv({{"LLM_ENDPOINTS", "http://a"}, {"LLM_TIMEOUT", "x"}})),
            "LLM_TIMEOUT: must be a positive number of seconds");
  EXPECT_EQ(
      errorOf(ConfigLoader::fromEnv({{"LLM_ENDPOINTS", "http://a"}, {"LLM_STRATEGY", "best"}})),
      "LLM_STRATEGY: unknown strategy 'best'");
}

// Found by tests/fuzz (config_loader_fuzz, crashers/config_loader/llm_timeout_huge): the
// seconds overflowed the milliseconds count (UB).
TEST(ConfigLoaderEnvTest, RejectsATimeoutTooLongForMilliseconds) {
  const std::string error = errorOf(ConfigLoader::fromEnv(
      {{"LLM_ENDPOINTS", "http://a"}, {"LLM_TIMEOUT", "3729424100813312634"}}));
  EXPECT_EQ(error, "LLM_TIMEOUT: must be at most 2592000 seconds (30 days)");
  EXPECT_EQ(ConfigLoader::fromEnv({{"LLM_ENDPOINTS", "http://a"}, {"LLM_TIMEOUT", "2592000"}})
                .value()
                .timeout,
            std::chrono::seconds(2592000));
}

TEST(ConfigLoaderKeySetTest, PodOrdinalSelectsTheSetWhenNoInstanceId) {
  auto cfg = ConfigLoader::fromYaml(R"(
endpoints: [{name: o, url: 'http://o'}]
key_sets:
  - {name: s0, keys: [{endpoint: o, alias: k0, env: K0}]}
  - {name: s1, keys: [{endpoint: o, alias: k1, env: K1}]}
  - {name: s2, keys: [{endpoint: o, alias: k2, env: K2}]}
)")
                 .value();
  EXPECT_EQ(ConfigLoader::applyKeySet(cfg, {{"HOSTNAME", "gpt5-analyzer-2"}}).value(), "s2");
  EXPECT_EQ(cfg.endpoints[0].keys.at(0).secret.env, "K2");
}

// A shared key on an endpoint that is not shared as a whole still needs the store (the
// worker once created it only for endpoint-level `shared: true`).
TEST(ConfigLoaderTest, ASharedKeyAloneNeedsTheSharedStore) {
  EXPECT_FALSE(usesSharedBuckets(ConfigLoader::fromYaml(R"(
endpoints:
  - {name: e, url: "http://e", keys: [{alias: a, env: A}]}
)")
                                     .value()));
  EXPECT_TRUE(usesSharedBuckets(ConfigLoader::fromYaml(R"(
endpoints:
  - {name: e, url: "http://e", keys: [{alias: a, env: A}, {alias: b, env: B, shared: true}]}
)")
                                    .value()));
  EXPECT_FALSE(usesSharedBuckets(ConfigLoader::fromYaml(R"(
endpoints:
  - {name: e, url: "http://e", shared: true, keys: [{alias: a, env: A, shared: false}]}
)")
                                     .value()));
  EXPECT_TRUE(usesSharedBuckets(ConfigLoader::fromYaml(R"(
endpoints:
  - {name: e, url: "http://e", shared: true}
)")
                                    .value()));
}

// A Deployment pod (<name>-<hash>-<suffix>) pins nothing, so the worker leases
// a free set instead of every replica silently taking set 0; INSTANCE_ID and a
// StatefulSet ordinal still pin one.
TEST(ConfigLoaderKeySetTest, OnlyInstanceIdOrAStatefulSetOrdinalPinsASet) {
  auto cfg = ConfigLoader::fromYaml(R"(
endpoints: [{name: o, url: 'http://o'}]
key_sets:
  - {name: s0, keys: [{endpoint: o, alias: k0, env: K0}]}
  - {name: s1, keys: [{endpoint: o, alias: k1, env: K1}]}
  - {name: s2, keys: [{endpoint: o, alias: k2, env: K2}]}
)")
                 .value();
  EXPECT_EQ(ConfigLoader::pinnedKeySet(cfg, {{"HOSTNAME", "gpt5-analyzer-7d9f8-x2k4q"}}).value(),
            std::nullopt);
  EXPECT_EQ(ConfigLoader::pinnedKeySet(cfg, {{"HOSTNAME", "gpt5-analyzer-7d9f8-24567"}}).value(),
            std::nullopt);
  EXPECT_EQ(ConfigLoader::pinnedKeySet(cfg, {{"HOSTNAME", "worker"}}).value(), std::nullopt);
  EXPECT_EQ(ConfigLoader::pinnedKeySet(cfg, {}).value(), std::nullopt);
  EXPECT_EQ(ConfigLoader::pinnedKeySet(cfg, {{"HOSTNAME", "gpt5-analyzer-4"}}).value(), 1u);
  EXPECT_EQ(ConfigLoader::pinnedKeySet(cfg, {{"INSTANCE_ID", "2"}, {"HOSTNAME", "x-1"}}).value(),
            2u);
  EXPECT_EQ(errorOf(ConfigLoader::pinnedKeySet(cfg, {{"INSTANCE_ID", "two"}})),
            "INSTANCE_ID: must be a non-negative integer");
  EXPECT_EQ(ConfigLoader::applyKeySet(cfg, std::size_t{1}), "s1");
  EXPECT_EQ(cfg.endpoints[0].keys.at(0).secret.env, "K1");
  BalancerConfig none = ConfigLoader::fromYaml("endpoints: [{name: o, url: 'http://o'}]\n").value();
  EXPECT_EQ(ConfigLoader::pinnedKeySet(none, {{"INSTANCE_ID", "1"}}).value(), std::nullopt);
}

TEST(ConfigLoaderKeySetTest, EnvOnlyConfigurationHasKeySetsFromLlmApiKeysN) {
  const EnvMap env = {{"LLM_ENDPOINTS", "http://a,http://b"},
                      {"LLM_API_KEYS_0", "a0,b0"},
                      {"LLM_API_KEYS_1", "a1,"},
                      {"LLM_API_KEYS_3", "ignored: there is no LLM_API_KEYS_2"}};
  BalancerConfig cfg = ConfigLoader::fromEnv(env).value();
  ASSERT_EQ(cfg.key_sets.size(), 2u);
  EXPECT_EQ(cfg.key_sets[0].name, "env-0");
  EXPECT_EQ(cfg.key_sets[0].keys.size(), 2u);
  EXPECT_EQ(cfg.key_sets[1].keys.size(), 1u);  // an empty entry: that endpoint gets no key
  EXPECT_EQ(ConfigLoader::applyKeySet(cfg, std::size_t{1}), "env-1");
  const auto resolve = ConfigLoader::secretResolver(env, nullptr);
  EXPECT_EQ(resolve(cfg.endpoints[0].keys.at(0).secret), "a1");
  EXPECT_TRUE(cfg.endpoints[1].keys.empty());
  // A set whose count does not match the endpoints is an error naming the variable,
  // never echoing a key.
  const std::string error = errorOf(
      ConfigLoader::fromEnv({{"LLM_ENDPOINTS", "http://a,http://b"}, {"LLM_API_KEYS_0", "sk-x"}}));
  EXPECT_NE(error.find("LLM_API_KEYS_0"), std::string::npos) << error;
  EXPECT_EQ(error.find("sk-x"), std::string::npos);
}

}  // namespace
}  // namespace celeriac::balancer
