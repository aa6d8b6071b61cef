// gpt5_analyzer.analyze end to end through a real Balancer over FakeTransport: argument
// shapes, validation before any LLM call, the request sent, the repair attempt, failure
// mapping and cancellation.
#include "worker/tasks/analyze_task.h"

#include <gtest/gtest.h>

#include "llm_task_harness.h"
#include "worker/tasks/llm_errors.h"
#include "worker/tasks/schema_validator.h"

namespace celeriac::worker::tasks {
namespace {

using nlohmann::json;
using task_tests::schemaDir;
using task_tests::validAnalysis;

constexpr const char* kImage = "https://waste.s3.amazonaws.com/u/1.jpg?X-Amz-Signature=abc";

class AnalyzeTaskTest : public task_tests::LlmTaskHarness {
 protected:
  json validInput() { return json{{"image", kImage}, {"user_id", "u-1"}}; }

  void expectValidationErrorWithoutRequest(json args, json kwargs, const std::string& needle) {
    SCOPED_TRACE(args.dump() + " " + kwargs.dump());
    outcomes_.clear();
    analyze(std::move(args), std::move(kwargs));
    const auto error = onlyFailure();
    EXPECT_EQ(error.type, "ValidationError");
    EXPECT_EQ(error.module, "celeriac.errors");
    EXPECT_NE(messageOf(error).find(needle), std::string::npos) << messageOf(error);
    EXPECT_EQ(http_.count(), 0u) << "no LLM call for invalid input";
  }
};

TEST_F(AnalyzeTaskTest, InvalidInputsFailWithValidationErrorAndMakeNoRequest) {
  expectValidationErrorWithoutRequest(json::array({json{{"user_id", "u"}}}), json::object(),
                                      "image: is required");
  expectValidationErrorWithoutRequest(json::array(),
                                      {{"image", "http://x.example/a.jpg"}, {"user_id", "u"}},
                                      "image: must be an https:// URL");
  expectValidationErrorWithoutRequest(json::array({json{{"image", 42}, {"user_id", "u"}}}),
                                      json::object(), "image: must be");
  expectValidationErrorWithoutRequest(json::array({json{{"image", kImage}, {"user_id", true}}}),
                                      json::object(), "user_id: must be");
  expectValidationErrorWithoutRequest(json::array({validInput()}),
                                      {{"hint", std::string(501, 'x')}},
                                      "hint: must be a string of at most 500 characters");
  expectValidationErrorWithoutRequest(json::array({kImage, "u", "ko", "hint", json::object(), 6}),
                                      json::object(), "at most 5 positional arguments");
  expectValidationErrorWithoutRequest(json::array({validInput()}), {{"colour", "red"}},
                                      "colour: is not an allowed field");
}

TEST_F(AnalyzeTaskTest, DataUrlWithBadBodyIsRefusedAndNeverQuotedInFull) {
  const std::string bad = "data:image/png;base64,AAAA" + std::string(5000, 'B') + "!!";
  expectValidationErrorWithoutRequest(json::array({json{{"image", bad}, {"user_id", "u"}}}),
                                      json::object(), "image:");
  EXPECT_EQ(messageOf(std::get<Failure>(outcomes_[0]).error).find(std::string(100, 'B')),
            std::string::npos);
}

TEST_F(AnalyzeTaskTest, ValidAnalysisRoundTripReturnsSchemaValidResultWithMeta) {
  analyze(json::array({validInput()}), {{"hint", "from the kitchen"}});
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  const auto body = requestBody(0);
  EXPECT_EQ(body["response_format"], json({{"type", "json_object"}}));
  ASSERT_EQ(body["messages"].size(), 2u);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  const auto& parts = body["messages"][1]["content"];
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_NE(parts[0]["text"].get<std::string>().find("from the kitchen"), std::string::npos);
  EXPECT_NE(parts[0]["text"].get<std::string>().find("Locale: ko"), std::string::npos);
  EXPECT_EQ(parts[1]["type"], "image_url");
  EXPECT_NE(parts[1].dump().find(kImage), std::string::npos);

  loop_.advance(std::chrono::milliseconds(1200));
  json answer = validAnalysis();
  answer["notes"] = "dropped";
  answer["meta"] = "the model's own meta is replaced";
  http_.reply(0, 200, task_tests::completion(answer.dump(), 800, 120));
  loop_.runReady();
  ASSERT_EQ(outcomes_.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Success>(outcomes_[0])) << whyNot(0);
  const json result = valueOf(0);
  const auto schema = SchemaValidator::load(schemaDir(), "analysis_result.schema.json").value();
  EXPECT_TRUE(schema.validate(result).empty()) << joinErrors(schema.validate(result));
  EXPECT_FALSE(result.contains("notes"));
  EXPECT_EQ(result["items"], validAnalysis()["items"]);
  const json& meta = result["meta"];
  EXPECT_EQ(meta["model"], "m1");
  EXPECT_EQ(meta["endpoint"], "e1");
  EXPECT_EQ(meta["attempts"], 1);
  EXPECT_EQ(meta["llm_calls"], 1);
  EXPECT_EQ(meta["prompt_tokens"], 800);
  EXPECT_EQ(meta["completion_tokens"], 120);
  EXPECT_DOUBLE_EQ(meta["cost_usd"].get<double>(), (800 * 1.0 + 120 * 4.0) / 1e6);
  EXPECT_DOUBLE_EQ(meta["latency_ms"].get<double>(), 1200.0);
}

TEST_F(AnalyzeTaskTest, AcceptsPositionalAndKeywordShapes) {
  analyze(json::array({kImage, "u-7"}), {{"locale", "en"}});
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  EXPECT_NE(requestBody(0).dump().find("Locale: en"), std::string::npos);
  analyze(json::array(),
          {{"image", kImage}, {"user_id", 7}, {"routing", {{"priority", "normal"}}}});
  loop_.runReady();
  EXPECT_EQ(http_.count(), 2u);
  // The uploader's URL as the chain's first argument, user_id from the signature.
  analyze(json::array({kImage}), {{"user_id", "u-8"}});
  loop_.runReady();
  EXPECT_EQ(http_.count(), 3u);
  EXPECT_TRUE(outcomes_.empty());
}

TEST_F(AnalyzeTaskTest, InvalidJsonIsRepairedOnceWithTheErrorFedBack) {
  analyze(json::array({validInput()}));
  answer(0, "{\"items\": [ oops");
  ASSERT_TRUE(outcomes_.empty()) << "one repair attempt first";
  ASSERT_EQ(http_.count(), 2u);
  const auto repair = requestBody(1);
  const auto& msgs = repair["messages"];
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[2]["role"], "assistant");
  EXPECT_EQ(msgs[2]["content"], "{\"items\": [ oops");
  EXPECT_EQ(msgs[3]["role"], "user");
  EXPECT_NE(msgs[3]["content"].get<std::string>().find("not valid JSON"), std::string::npos)
      << msgs[3]["content"];
  EXPECT_NE(msgs[1].dump().find("image_url"), std::string::npos) << "the image is kept";
  // The first request went to the balancer and came back with the answer: the repair is
  // that request, two messages longer, with everything else as it was.
  json first_without_messages = requestBody(0);
  json repair_without_messages = repair;
  first_without_messages.erase("messages");
  repair_without_messages.erase("messages");
  EXPECT_EQ(repair_without_messages, first_without_messages);
  EXPECT_EQ(msgs[0], requestBody(0)["messages"][0]);
  EXPECT_EQ(msgs[1], requestBody(0)["messages"][1]);

  answer(1, validAnalysis().dump(), 900, 100);
  ASSERT_EQ(outcomes_.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Success>(outcomes_[0])) << whyNot(0);
  const json meta = valueOf(0)["meta"];
  EXPECT_EQ(meta["llm_calls"], 2);
  EXPECT_EQ(meta["attempts"], 2);
  EXPECT_EQ(meta["prompt_tokens"], 1000);
  EXPECT_EQ(meta["completion_tokens"], 150);
}

TEST_F(AnalyzeTaskTest, TwiceInvalidJsonFailsWithInvalidModelOutputQuotingTheFirstError) {
  analyze(json::array({validInput()}));
  answer(0, "not json at all");
  answer(1, "still [not json");
  const auto error = onlyFailure();
  EXPECT_EQ(error.type, "InvalidModelOutput");
  EXPECT_EQ(error.module, "celeriac.errors");
  const auto text = messageOf(error);
  EXPECT_NE(text.find("not valid JSON: parse error at line 1, column 2"), std::string::npos)
      << text;
  EXPECT_EQ(http_.count(), 2u) << "exactly one repair";
}

TEST_F(AnalyzeTaskTest, SchemaViolatingAnswerIsRepairedThenFailsQuotingTheRule) {
  analyze(json::array({validInput()}));
  json wrong = validAnalysis();
  wrong["overall_category"] = "recyclable";
  answer(0, wrong.dump());
  ASSERT_EQ(http_.count(), 2u);
  EXPECT_NE(requestBody(1)["messages"][3]["content"].get<std::string>().find(
                "overall_category: must be one of"),
            std::string::npos);
  json wrong_again = validAnalysis();
  wrong_again["items"][0]["confidence"] = 3;
  answer(1, wrong_again.dump());
  const auto error = onlyFailure();
  EXPECT_EQ(error.type, "InvalidModelOutput");
  const auto text = messageOf(error);
  EXPECT_NE(text.find("schema: overall_category: must be one of"), std::string::npos) << text;
  EXPECT_NE(text.find("items[0].confidence"), std::string::npos) << text;
}

TEST_F(AnalyzeTaskTest, ProviderClientErrorIsLlmCallerError) {
  analyze(json::array({validInput()}));
  loop_.runReady();
  http_.reply(0, 400, R"({"error":{"message":"image too large"}})");
  const auto error = onlyFailure();
  EXPECT_EQ(error.type, "LlmCallerError");
  EXPECT_NE(messageOf(error).find("HTTP 400"), std::string::npos);
  EXPECT_NE(messageOf(error).find("image too large"), std::string::npos);
  EXPECT_EQ(http_.count(), 1u) << "a caller error is not retried";
}

TEST_F(AnalyzeTaskTest, AllModelsUnavailableCarriesModelsAndRetryAt) {
  analyze(json::array({validInput()}));
  loop_.runReady();
  http_.reply(0, 503, "");  // opens m1's breaker for 60 s: longer than max_queue_wait
  const auto error = onlyFailure();
  EXPECT_EQ(error.type, "AllModelsUnavailable");
  EXPECT_NE(messageOf(error).find("tried: m1"), std::string::npos) << messageOf(error);
  const auto* parked = std::get_if<Unavailable>(&outcomes_[0]);
  ASSERT_NE(parked, nullptr);
  EXPECT_EQ(parked->models, std::vector<std::string>{"m1"});
  ASSERT_TRUE(parked->retry_at.has_value());
  EXPECT_GT(*parked->retry_at, loop_.clock().wallNow());
}

TEST_F(AnalyzeTaskTest, CancelStopsTheCallAndDoneNeverFires) {
  analyze(json::array({validInput()}));
  loop_.runReady();
  ASSERT_EQ(http_.open(), 1u);
  run_->cancel();
  loop_.advance(std::chrono::seconds(120));
  EXPECT_EQ(http_.open(), 0u) << "the HTTP request is cancelled";
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_EQ(balancer_->callsInFlight(), 0u);
  run_.reset();
  loop_.runReady();
  EXPECT_TRUE(outcomes_.empty());
}

TEST_F(AnalyzeTaskTest, CancelDuringTheRepairAlsoSilencesDone) {
  analyze(json::array({validInput()}));
  answer(0, "nope");
  ASSERT_EQ(http_.count(), 2u);
  run_->cancel();
  loop_.advance(std::chrono::seconds(120));
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_EQ(http_.open(), 0u);
}

TEST_F(AnalyzeTaskTest, CancelBeforeAValidationFailureFiresSilencesDone) {
  analyze(json::array(), json::object());
  run_->cancel();
  loop_.runReady();
  EXPECT_TRUE(outcomes_.empty());
}

}  // namespace
}  // namespace celeriac::worker::tasks
