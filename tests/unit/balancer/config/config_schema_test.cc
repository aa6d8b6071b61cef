// The balancer config's JSON Schema as ConfigLoader::fromYaml applies it: a wrong name,
// type, enum value or a missing field is an Error naming its path and what was
// expected; the schema compiled in is the file in schemas/.

#include "config/config_schema.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "balancer/config_loader.h"
#include "config_error_of.h"

namespace celeriac::balancer {
namespace {

using testing::errorOf;
using testing::pathOf;

constexpr const char* kEndpoint = "endpoints: [{url: 'http://a', models: [m]}]\n";

std::string withEndpoint(const std::string& yaml) { return yaml + kEndpoint; }

TEST(ConfigSchemaTest, TheCompiledSchemaIsTheFileInSchemas) {
  std::ifstream in(std::string(CELERIAC_SOURCE_DIR) + "/schemas/balancer_config.schema.json");
  ASSERT_TRUE(in);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(config_schema::kSchemaText, text.str());
  const auto schema = nlohmann::json::parse(config_schema::kSchemaText);
  EXPECT_EQ(schema.at("$schema"), "http://json-schema.org/draft-07/schema#");
}

TEST(ConfigSchemaTest, AWrongNameIsAnUnknownFieldAtItsPath) {
  EXPECT_EQ(errorOf(withEndpoint("retry_cont: 2\n")), "retry_cont: unknown field");
  EXPECT_EQ(errorOf(withEndpoint("health_check: {enabled: true, intervall: 30}\n")),
            "health_check.intervall: unknown field");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', limits: {gpt-5: {rpm: 1, tpn: 2}}}]\n"),
            "endpoints[0].limits.gpt-5.tpn: unknown field");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', keys: [{alias: k, env: K, envv: X}]}]\n"),
            "endpoints[0].keys[0].envv: unknown field");
  EXPECT_EQ(errorOf(withEndpoint("routes: {general: {normal: {models: [m], strategi: cost}}}\n")),
            "routes.general.normal.strategi: unknown field");
  EXPECT_EQ(errorOf(withEndpoint("pricing: {m: {input: 1, ouput: 2}}\n")),
            "pricing.m.ouput: unknown field");
}

TEST(ConfigSchemaTest, AWrongTypeSaysWhatWasExpected) {
  // Quoted, "60" is a string, as JSON and Python's YAML loaders read it.
  EXPECT_EQ(errorOf(withEndpoint("timeout: \"60\"\n")), "timeout: must be a positive number");
  EXPECT_EQ(errorOf(withEndpoint("retry_count: two\n")), "retry_count: must be an integer");
  EXPECT_EQ(errorOf(withEndpoint("retry_count: 1.5\n")), "retry_count: must be an integer");
  EXPECT_EQ(errorOf(withEndpoint("fallback_on_failure: maybe\n")),
            "fallback_on_failure: must be true or false");
  EXPECT_EQ(errorOf("endpoints: {url: 'http://a'}\n"), "endpoints: must be a list");
  EXPECT_EQ(errorOf(withEndpoint("health_check: true\n")), "health_check: must be a mapping");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', name: 7}]\n"),
            "endpoints[0].name: must be a string");
  EXPECT_EQ(errorOf(withEndpoint("routes: {general: {normal: 5}}\n")),
            "routes.general.normal: must be a list or a mapping");
  EXPECT_EQ(errorOf(withEndpoint("routes: {general: {normal: [m, [n]]}}\n")),
            "routes.general.normal[1]: must be a string");
  EXPECT_EQ(errorOf("[1, 2]\n"), "(document): must be a mapping");
  EXPECT_EQ(errorOf(""), "(document): must be a mapping");
}

TEST(ConfigSchemaTest, AWrongEnumValueListsTheChoices) {
  EXPECT_EQ(errorOf(withEndpoint("strategy: fastest\n")),
            "strategy: must be one of round_robin, weighted, least_connections, random, "
            "latency, cost");
  EXPECT_EQ(errorOf(withEndpoint("routes: {general: {high: {models: [m], strategy: best}}}\n")),
            "routes.general.high.strategy: must be one of round_robin, weighted, "
            "least_connections, random, latency, cost");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', provider: cohere}]\n"),
            "endpoints[0].provider: must be openai or anthropic");
}

TEST(ConfigSchemaTest, AMissingRequiredFieldIsNamed) {
  EXPECT_EQ(errorOf("timeout: 30\n"), "endpoints: is required");
  EXPECT_EQ(errorOf("endpoints: [{name: a}]\n"), "endpoints[0].url: is required");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', keys: [{env: K}]}]\n"),
            "endpoints[0].keys[0].alias: is required");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', keys: [{alias: k}]}]\n"),
            "endpoints[0].keys[0].env: is required");
  EXPECT_EQ(errorOf(withEndpoint("key_sets: [{name: s, keys: [{alias: k, env: K}]}]\n")),
            "key_sets[0].keys[0].endpoint: is required");
  EXPECT_EQ(errorOf(withEndpoint("routes: {general: {normal: {strategy: cost}}}\n")),
            "routes.general.normal.models: is required");
  // base_url is url's other name: either one will do.
  EXPECT_EQ(errorOf("endpoints: [{base_url: 'http://a'}]\n"), "(no error)");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', keys: [{alias: k, file: /k}]}]\n"),
            "(no error)");
}

TEST(ConfigSchemaTest, RangesAndEmptyValuesAreNamed) {
  EXPECT_EQ(errorOf(withEndpoint("timeout: 0\n")), "timeout: must be a positive number");
  EXPECT_EQ(errorOf(withEndpoint("timeout: -.inf\n")), "timeout: must be a positive number");
  EXPECT_EQ(errorOf(withEndpoint("alerts: {error_rate: 1.5}\n")),
            "alerts.error_rate: must be at most 1");
  EXPECT_EQ(errorOf(withEndpoint("retry_budget: {min_retries: -1}\n")),
            "retry_budget.min_retries: must be at least 0");
  EXPECT_EQ(errorOf(withEndpoint("health_check: {path: models}\n")),
            "health_check.path: must start with /");
  EXPECT_EQ(errorOf(withEndpoint("pricing: {m: {input: -1}}\n")),
            "pricing.m.input: must not be negative");
  EXPECT_EQ(errorOf(withEndpoint("fallbacks: {m: []}\n")), "fallbacks.m: must not be empty");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', name: ''}]\n"),
            "endpoints[0].name: must not be empty");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', weight: 0}]\n"),
            "endpoints[0].weight: must be a positive number");
}

TEST(ConfigSchemaTest, SeveralViolationsAreNamedTogetherAtTheFirstOnesPath) {
  const std::string yaml = "endpoints: [{url: 'http://a', weight: 0, max_tokens: 0}]\n";
  EXPECT_EQ(pathOf(yaml), "endpoints[0].max_tokens");
  EXPECT_EQ(errorOf(yaml),
            "endpoints[0].max_tokens: must be at least 1; endpoints[0].weight: must be a "
            "positive number");
}

TEST(ConfigSchemaTest, WhatTheSchemaCannotSayIsStillChecked) {
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', replicas: 2}]\n"),
            "endpoints[0].replicas: only applies with shared: true");
  EXPECT_EQ(errorOf("endpoints: [{url: 'http://a', keys: [{alias: k, env: K, file: /k}]}]\n"),
            "endpoints[0].keys[0].env: give either env or file, not both");
}

TEST(ConfigSchemaTest, CheckReturnsEveryViolationAsAValue) {
  const auto violations = config_schema::check(nlohmann::json{
      {"endpoints", nlohmann::json::array({{{"url", "ftp://a"}}})}, {"timeout", true}});
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].path, "endpoints[0].url");
  EXPECT_EQ(violations[0].message, "must start with http:// or https://");
  EXPECT_EQ(violations[1].path, "timeout");
  EXPECT_EQ(violations[1].message, "must be a positive number");
  EXPECT_TRUE(config_schema::check(
                  nlohmann::json{{"endpoints", nlohmann::json::array({{{"url", "https://a"}}})}})
                  .empty());
}

}  // namespace
}  // namespace celeriac::balancer
