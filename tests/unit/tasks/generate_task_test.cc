// response_generator.generate through a real Balancer over FakeTransport: the Celery
// chain shapes of its first argument, the prompt it builds, and its result.
#include "worker/tasks/generate_task.h"

#include <gtest/gtest.h>

#include "llm_task_harness.h"
#include "worker/tasks/schema_validator.h"

namespace celeriac::worker::tasks {
namespace {

using nlohmann::json;
using task_tests::schemaDir;
using task_tests::validAnalysis;
using task_tests::validGeneration;

json analysisResult() {
  json a = validAnalysis();
  a["meta"] = {{"model", "m1"},   {"endpoint", "e1"},   {"attempts", 1},
               {"llm_calls", 1},  {"prompt_tokens", 1}, {"completion_tokens", 1},
               {"cost_usd", 0.0}, {"latency_ms", 1.0}};
  return a;
}
const json kRules = {{"plastic", {"Rinse it", "Remove the label"}}};

class GenerateTaskTest : public task_tests::LlmTaskHarness {
 protected:
  std::string userPrompt(std::size_t index) {
    return requestBody(index)["messages"][1]["content"].get<std::string>();
  }
};

TEST_F(GenerateTaskTest, ChainShapeAnalysisFirstRulesKeywordReturnsAnswerStepsAndMeta) {
  generate(json::array({analysisResult()}),
           {{"rules", kRules}, {"question", "Where does the cap go?"}});
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  const auto body = requestBody(0);
  EXPECT_EQ(body["response_format"], json({{"type", "json_object"}}));
  const auto prompt = userPrompt(0);
  EXPECT_NE(prompt.find("Remove the label"), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("PET bottle"), std::string::npos);
  EXPECT_NE(prompt.find("Where does the cap go?"), std::string::npos);
  EXPECT_EQ(prompt.find("latency_ms"), std::string::npos) << "meta is not shown to the model";

  json answer_json = validGeneration();
  answer_json["extra"] = 1;
  answer(0, answer_json.dump(), 300, 80);
  ASSERT_EQ(outcomes_.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Success>(outcomes_[0])) << whyNot(0);
  const json result = valueOf(0);
  const auto schema = SchemaValidator::load(schemaDir(), "generate_result.schema.json").value();
  EXPECT_TRUE(schema.validate(result).empty()) << joinErrors(schema.validate(result));
  EXPECT_EQ(result["answer"], validGeneration()["answer"]);
  EXPECT_EQ(result["steps"], validGeneration()["steps"]);
  EXPECT_FALSE(result.contains("extra"));
  EXPECT_EQ(result["meta"]["prompt_tokens"], 300);
  EXPECT_EQ(result["meta"]["attempts"], 1);
}

TEST_F(GenerateTaskTest, AcceptsRulesAsSecondPositionalWrapperAndAugmentedShapes) {
  generate(json::array({analysisResult(), kRules, "en"}));
  generate(
      json::array({json{{"analysis", analysisResult()}, {"rules", kRules}, {"locale", "en"}}}));
  json augmented = analysisResult();
  augmented["rules"] = json::array({"Rinse it"});
  generate(json::array({augmented}), {{"locale", "en"}});
  generate(json::array(), {{"analysis", validAnalysis()}, {"rules", kRules}, {"locale", "en"}});
  loop_.runReady();
  ASSERT_EQ(http_.count(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_NE(userPrompt(i).find("Locale: en"), std::string::npos) << i;
    EXPECT_NE(userPrompt(i).find("Rinse it"), std::string::npos) << i;
  }
  EXPECT_TRUE(outcomes_.empty());
}

TEST_F(GenerateTaskTest, KeywordRulesOverrideRulesCarriedInTheFirstArgument) {
  json augmented = analysisResult();
  augmented["rules"] = json::array({"old rule"});
  generate(json::array({augmented}), {{"rules", json::array({"new rule"})}});
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  EXPECT_NE(userPrompt(0).find("new rule"), std::string::npos);
  EXPECT_EQ(userPrompt(0).find("old rule"), std::string::npos);
}

TEST_F(GenerateTaskTest, InvalidInputsFailWithValidationErrorAndMakeNoRequest) {
  const std::vector<std::pair<json, json>> cases = {
      {json::array({analysisResult()}), json::object()},         // no rules
      {json::array({analysisResult()}), {{"rules", "rinse"}}},   // wrong type
      {json::array({"plastic"}), {{"rules", kRules}}},           // not an analysis
      {json::array({json{{"items", 3}}}), {{"rules", kRules}}},  // broken analysis
      {json::array({analysisResult()}), {{"rules", kRules}, {"question", std::string(1001, 'q')}}},
  };
  const std::vector<std::string> needles = {
      "rules: is required", "rules: must be an object or an array",
      "analysis: must be the analysis result", "analysis.items", "question:"};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    outcomes_.clear();
    generate(cases[i].first, cases[i].second);
    const auto error = onlyFailure();
    EXPECT_EQ(error.type, "ValidationError") << i;
    EXPECT_NE(messageOf(error).find(needles[i]), std::string::npos)
        << i << ": " << messageOf(error);
  }
  EXPECT_EQ(http_.count(), 0u);
}

TEST_F(GenerateTaskTest, InvalidAnswerIsRepairedOnce) {
  generate(json::array({analysisResult()}), {{"rules", kRules}});
  answer(0, R"({"answer": "", "steps": []})");
  ASSERT_EQ(http_.count(), 2u);
  EXPECT_NE(requestBody(1)["messages"][3]["content"].get<std::string>().find("answer:"),
            std::string::npos);
  answer(1, validGeneration().dump());
  ASSERT_EQ(outcomes_.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Success>(outcomes_[0])) << whyNot(0);
  EXPECT_EQ(valueOf(0)["meta"]["llm_calls"], 2);
}

TEST_F(GenerateTaskTest, CancelStopsTheCallAndDoneNeverFires) {
  generate(json::array({analysisResult()}), {{"rules", kRules}});
  loop_.runReady();
  run_->cancel();
  loop_.advance(std::chrono::seconds(120));
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_EQ(http_.open(), 0u);
}

}  // namespace
}  // namespace celeriac::worker::tasks
