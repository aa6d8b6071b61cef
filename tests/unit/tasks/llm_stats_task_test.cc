// celeriac.llm_stats: the Balancer's stats() as the task's result, with the totals and
// the per-endpoint, per-model counts after one call, and never the API key.
#include "llm_task_harness.h"

namespace celeriac::worker::tasks {
namespace {

using task_tests::LlmTaskHarness;
using task_tests::validAnalysis;

using LlmStatsTaskTest = LlmTaskHarness;

TEST_F(LlmStatsTaskTest, ReturnsTheBalancerStatsAfterACallWithoutTheKey) {
  analyze(nlohmann::json::array(),
          {{"image", "https://bucket.s3.amazonaws.com/photo.jpg"}, {"user_id", "u-1"}});
  answer(0, validAnalysis().dump());
  ASSERT_EQ(outcomes_.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Success>(outcomes_[0])) << whyNot(0);
  outcomes_.clear();

  start(kLlmStatsTask, nlohmann::json::array());
  loop_.runReady();
  ASSERT_EQ(outcomes_.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Success>(outcomes_[0])) << whyNot(0);
  const nlohmann::json stats = valueOf(0);
  EXPECT_EQ(stats["total_requests"], 1);
  EXPECT_EQ(stats["total_success"], 1);
  EXPECT_EQ(stats["endpoints"][0]["name"], "e1");
  EXPECT_EQ(stats["endpoints"][0]["models"][0]["success"], 1);
  EXPECT_EQ(stats.dump().find("sk-test-secret"), std::string::npos) << "never the key";
}

}  // namespace
}  // namespace celeriac::worker::tasks
