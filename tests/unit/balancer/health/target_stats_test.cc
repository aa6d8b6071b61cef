#include "health/target_stats.h"

#include <gtest/gtest.h>

#include "balancer/config_loader.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;

bool raised(const nlohmann::json& stats, const std::string& alert) {
  for (const auto& a : stats["alerts"]) {
    if (a == alert) return true;
  }
  return false;
}

TEST(TargetStatsTest, ThreeConsecutiveFailuresRaiseAnAlertUntilASuccess) {
  TargetStats s;
  s.recordFailure(FailureClass::kServerError, 10ms);
  s.recordFailure(FailureClass::kOverloaded, 10ms);
  EXPECT_FALSE(raised(s.toJson(), "consecutive_failures"));
  s.recordFailure(FailureClass::kTimeout, 10ms);
  EXPECT_TRUE(raised(s.toJson(), "consecutive_failures"));
  EXPECT_EQ(s.toJson()["consecutive_failures"], 3);
  s.recordSuccess(10ms, 1, 1, 0);
  EXPECT_FALSE(raised(s.toJson(), "consecutive_failures"));
}

TEST(TargetStatsTest, ACallOverFiveSecondsRaisesSlowCallAndIsCounted) {
  TargetStats s;
  s.recordSuccess(5000ms, 1, 1, 0);
  EXPECT_FALSE(raised(s.toJson(), "slow_call")) << "over 5000 ms, not at it";
  s.recordSuccess(5001ms, 1, 1, 0);
  EXPECT_TRUE(raised(s.toJson(), "slow_call"));
  s.recordSuccess(200ms, 1, 1, 0);
  const auto j = s.toJson();
  EXPECT_FALSE(raised(j, "slow_call")) << "the latest call was fast";
  EXPECT_EQ(j["recent"]["slow_calls"], 1);
}

TEST(TargetStatsTest, ErrorRateOverFivePercentOfEnoughRecentCallsRaisesAnAlert) {
  TargetStats s;
  for (int i = 0; i < 19; ++i) s.recordSuccess(1ms, 1, 1, 0);
  s.recordFailure(FailureClass::kServerError, 1ms);
  EXPECT_FALSE(raised(s.toJson(), "error_rate")) << "1 of 20 is 5 %, not over it";
  s.recordFailure(FailureClass::kServerError, 1ms);
  const auto j = s.toJson();
  EXPECT_TRUE(raised(j, "error_rate"));
  EXPECT_DOUBLE_EQ(j["recent"]["error_rate"].get<double>(), 2.0 / 21.0);
  EXPECT_DOUBLE_EQ(j["success_rate"].get<double>(), 19.0 / 21.0);

  TargetStats few;
  few.recordFailure(FailureClass::kServerError, 1ms);
  EXPECT_FALSE(raised(few.toJson(), "error_rate")) << "one call is not a rate";
}

TEST(TargetStatsTest, ThresholdsComeFromTheOptions) {
  TargetStats s;
  s.recordSuccess(1500ms, 1, 1, 0);
  AlertOptions options;
  options.slow_call = 1s;
  EXPECT_TRUE(raised(s.toJson(options), "slow_call"));
}

TEST(TargetStatsTest, MeanAndPercentilesCountFailuresToo) {
  TargetStats s;
  s.recordSuccess(100ms, 1, 1, 0);
  s.recordFailure(FailureClass::kTimeout, 300ms);
  const auto j = s.toJson();
  EXPECT_DOUBLE_EQ(j["latency_ms"]["mean"].get<double>(), 200.0);
  EXPECT_DOUBLE_EQ(j["latency_ms"]["p99"].get<double>(), 300.0);
  EXPECT_EQ(j["recent"]["errors"], 1);
}

TEST(TargetStatsTest, AlertOptionsLoadFromYamlWithFieldErrors) {
  const auto cfg =
      ConfigLoader::fromYaml(
          "alerts: {slow_call: 2.5, error_rate: 0.1, min_calls: 50, consecutive_failures: 5}\n"
          "endpoints: [{name: e, url: 'http://e'}]")
          .value();
  EXPECT_EQ(cfg.alerts.slow_call, 2500ms);
  EXPECT_DOUBLE_EQ(cfg.alerts.error_rate, 0.1);
  EXPECT_EQ(cfg.alerts.min_calls_for_error_rate, 50);
  EXPECT_EQ(cfg.alerts.consecutive_failures, 5);
  const auto refused =
      ConfigLoader::fromYaml("alerts: {error_rate: 5}\nendpoints: [{url: 'http://e'}]");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "alerts.error_rate: must be at most 1");
}

}  // namespace
}  // namespace celeriac::balancer
