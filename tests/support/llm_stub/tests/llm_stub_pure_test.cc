// Unit tests of the llm-stub's pure pieces: wire formats, the sliding-window counter,
// fault matching and content. No process, no sockets, no sleeping: time is passed in.

#include <gtest/gtest.h>

#include <chrono>

#include "chat_content.h"
#include "fault_plan.h"
#include "rate_counter.h"
#include "rate_limit_headers.h"

namespace celeriac::testing::stub {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const WallTime kT0 = WallTime{} + seconds(1'700'000'000);

TEST(LlmStubFormatTest, GoDurationsMatchGoSpelling) {
  EXPECT_EQ(formatGoDuration(milliseconds(0)), "0s");
  EXPECT_EQ(formatGoDuration(milliseconds(20)), "20ms");
  EXPECT_EQ(formatGoDuration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(formatGoDuration(milliseconds(90'500)), "1m30.5s");
  EXPECT_EQ(formatGoDuration(milliseconds(360'000)), "6m0s");
  EXPECT_EQ(formatGoDuration(milliseconds(3'600'000)), "1h0m0s");
  EXPECT_EQ(formatGoDuration(milliseconds(59'852)), "59.852s");
}

TEST(LlmStubFormatTest, TimesRoundUpSoClientsNeverComeBackEarly) {
  EXPECT_EQ(formatRfc3339(kT0), "2023-11-14T22:13:20Z");
  EXPECT_EQ(formatRfc3339(kT0 + milliseconds(1)), "2023-11-14T22:13:21Z");
  EXPECT_EQ(formatHttpDate(kT0), "Tue, 14 Nov 2023 22:13:20 GMT");
  EXPECT_EQ(formatRetryAfterSeconds(milliseconds(1)), "1");
  EXPECT_EQ(formatRetryAfterSeconds(milliseconds(2001)), "3");
}

TEST(LlmStubRateCounterTest, RefusesBeyondTheLimitUntilTheOldestLeavesTheWindow) {
  RateCounter c(2, 0);
  EXPECT_TRUE(c.admit("k", kT0, 1).admitted);
  EXPECT_TRUE(c.admit("k", kT0 + seconds(10), 1).admitted);
  const Admission refused = c.admit("k", kT0 + seconds(20), 1);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after, seconds(40));  // the first leaves at t0 + 60 s
  EXPECT_TRUE(c.admit("other", kT0 + seconds(20), 1).admitted);
  EXPECT_TRUE(c.admit("k", kT0 + seconds(60), 1).admitted);  // exactly 60 s: left
  EXPECT_EQ(c.windowStats().at("k").max_window_accepted, 2u);
}

TEST(LlmStubRateCounterTest, MaxWindowIsTheMostInAnySixtySecondWindow) {
  RateCounter c(0, 0);
  // 3 requests in the first 10 s, then 2 more at 65 s and 71 s: no window that holds
  // either late one also holds more than one early one, so the maximum stays 3 although
  // 5 arrived in total, and the window ending at 71 s holds 2.
  for (int s : {0, 5, 10, 65, 71}) c.recordReceived("k", "m", kT0 + seconds(s));
  EXPECT_EQ(c.windowStats().at("k").max_window_received, 3u);
  EXPECT_EQ(c.windowStats().at("k").window_received, 2u);
}

TEST(LlmStubRateCounterTest, NoticesRequestsBeforeRetryAfterPerModel) {
  RateCounter c(0, 0);
  c.noteRetryAfter("k", "m", kT0 + seconds(5));
  EXPECT_TRUE(c.recordReceived("k", "m", kT0 + seconds(4)));
  EXPECT_FALSE(c.recordReceived("k", "other", kT0 + seconds(4)));
  EXPECT_FALSE(c.recordReceived("k", "m", kT0 + seconds(5)));
  c.noteRetryAfter("k", "m", kT0 + seconds(1));  // never shortens
  EXPECT_TRUE(c.recordReceived("k", "m", kT0 + milliseconds(4999)));
}

TEST(LlmStubRateCounterTest, SnapshotReportsRemainingAndReset) {
  RateCounter c(10, 1000);
  ASSERT_TRUE(c.admit("k", kT0, 100).admitted);
  const WindowSnapshot w = c.snapshot("k", kT0 + seconds(15));
  EXPECT_EQ(w.request_limit, 10u);
  EXPECT_EQ(w.request_remaining, 9u);
  EXPECT_EQ(w.token_remaining, 900u);
  EXPECT_EQ(w.requests_reset, seconds(45));
  EXPECT_FALSE(c.admit("k", kT0 + seconds(16), 950).admitted);  // tokens would pass 1000
}

TEST(LlmStubFaultPlanTest, OldestMatchingFaultAnswersAndLatencyAdds) {
  FaultPlan plan;
  plan.add(*parseFault({{"fault", "latency"}, {"ms", 100}}).fault);
  plan.add(
      *parseFault({{"model", "gpt-*"}, {"fault", "status"}, {"status", 503}, {"count", 1}}).fault);
  plan.add(*parseFault({{"key", "bad"}, {"fault", "status"}, {"status", 401}}).fault);

  FaultMatch m = plan.take("gpt-4o", "bad");
  EXPECT_EQ(m.extra_latency, milliseconds(100));
  ASSERT_TRUE(m.action);
  EXPECT_EQ(m.action->status, 503);

  m = plan.take("gpt-4o", "bad");  // the 503 is used up
  ASSERT_TRUE(m.action);
  EXPECT_EQ(m.action->status, 401);
  EXPECT_FALSE(plan.take("claude", "good").action);
  EXPECT_EQ(plan.toJson().size(), 2u);
}

TEST(LlmStubFaultPlanTest, RejectsBadSpecsWithTheFieldName) {
  EXPECT_NE(parseFault({{"fault", "status"}, {"status", 99}}).error.find("status"),
            std::string::npos);
  EXPECT_NE(parseFault({{"fault", "hang"}, {"count", 0}}).error.find("count"), std::string::npos);
  EXPECT_NE(
      parseFault({{"fault", "rate_limit"}, {"retry_after_s", "x"}}).error.find("retry_after_s"),
      std::string::npos);
  EXPECT_NE(parseFault(nlohmann::json::array()).error.find("object"), std::string::npos);
  EXPECT_TRUE(parseFault({{"fault", "reset"}}).fault.has_value());
}

TEST(LlmStubContentTest, AnalysisNeedsJsonModeAWastePromptAndAPhoto) {
  nlohmann::json body = {
      {"model", "m"},
      {"messages",
       {{{"role", "system"}, {"content", "Waste sorter."}},
        {{"role", "user"},
         {"content",
          {{{"type", "text"}, {"text", "a metal can"}},
           {{"type", "image_url"}, {"image_url", {{"url", "https://example.com/a.jpg"}}}}}}}}}};
  EXPECT_FALSE(isAnalysisRequest(readPrompt(body, ApiFlavor::kOpenAi)));
  nlohmann::json text_only = body;
  text_only["messages"][1]["content"] = "Write the answer about this waste: a metal can";
  text_only["response_format"] = {{"type", "json_object"}};
  EXPECT_FALSE(isAnalysisRequest(readPrompt(text_only, ApiFlavor::kOpenAi)))
      << "a text-only answer about waste is not a photo analysis";
  body["response_format"] = {{"type", "json_object"}};
  const PromptView p = readPrompt(body, ApiFlavor::kOpenAi);
  ASSERT_TRUE(isAnalysisRequest(p));
  EXPECT_EQ(analysisObject(p)["overall_category"], "metal");
  EXPECT_EQ(nlohmann::json::parse(chatContent(p, "m", ContentMode::kNormal)), analysisObject(p));
  EXPECT_TRUE(nlohmann::json::parse(chatContent(p, "m", ContentMode::kInvalidJson), nullptr, false)
                  .is_discarded());
}

TEST(LlmStubContentTest, TokenEstimateIsCharsOverFourPlusImages) {
  PromptView p;
  p.all_text = std::string(40, 'x');
  p.image_parts = 2;
  EXPECT_EQ(estimateTokens(p), 10u + 170u);
  EXPECT_EQ(estimateTokens(std::string("abcde")), 2u);
}

}  // namespace
}  // namespace celeriac::testing::stub
