// How balancer failures become Celery exceptions, and what errors may contain.
#include "worker/tasks/llm_errors.h"

#include <gtest/gtest.h>

namespace celeriac::worker::tasks {
namespace {

using balancer::CallErrorKind;
using balancer::CallFailure;
using balancer::CallResult;

CallResult failed(CallErrorKind kind, std::string message) {
  CallFailure f;
  f.kind = kind;
  f.message = std::move(message);
  f.attempts = 3;
  return CallResult{f, {}};
}

TEST(LlmErrorsTest, BalancerFailureKindsMapToDistinctTypes) {
  EXPECT_EQ(fromCallFailure(failed(CallErrorKind::kCallerError, "bad")).type, "LlmCallerError");
  EXPECT_EQ(fromCallFailure(failed(CallErrorKind::kDeadlineExceeded, "late")).type,
            "LlmDeadlineExceeded");
  EXPECT_EQ(fromCallFailure(failed(CallErrorKind::kAttemptsExhausted, "503s")).type,
            "LlmUnavailable");
  EXPECT_EQ(fromCallFailure(failed(CallErrorKind::kAllUnavailable, "none")).type,
            "AllModelsUnavailable");
  EXPECT_EQ(fromCallFailure(failed(CallErrorKind::kCancelled, "stop")).type, "LlmCancelled");
  EXPECT_EQ(fromCallFailure(failed(CallErrorKind::kCallerError, "bad")).module, "celeriac.errors");
}

TEST(LlmErrorsTest, AttemptsExhaustedOnPassingFailuresParksInsteadOfFailingEarly) {
  // Every model answering 503 ends in "attempts exhausted" before any breaker opens;
  // the task must be parked, not failed. Caught by the e2e parking test.
  for (auto cls : {balancer::FailureClass::kOverloaded, balancer::FailureClass::kServerError,
                   balancer::FailureClass::kTimeout, balancer::FailureClass::kConnection,
                   balancer::FailureClass::kRateLimited}) {
    auto result = failed(CallErrorKind::kAttemptsExhausted, "503s");
    std::get<CallFailure>(result.outcome).last_failure = cls;
    const auto info = fromCallFailure(result);
    EXPECT_EQ(info.type, "AllModelsUnavailable");
    EXPECT_TRUE(allModelsUnavailable(info).has_value());
  }
  auto bad_key = failed(CallErrorKind::kAttemptsExhausted, "401s");
  std::get<CallFailure>(bad_key.outcome).last_failure = balancer::FailureClass::kKeyInvalid;
  EXPECT_EQ(fromCallFailure(bad_key).type, "LlmUnavailable")
      << "a bad key does not heal by waiting";
}

TEST(LlmErrorsTest, AllModelsUnavailableRoundTripsRetryAtAndModels) {
  auto result = failed(CallErrorKind::kAllUnavailable, "no candidate available");
  auto& f = std::get<CallFailure>(result.outcome);
  f.retry_at_wall = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  result.trace.push_back(
      {balancer::TraceEntry::Kind::kSkipped, {}, "e1", "m1", "", "breaker_open"});
  result.trace.push_back(
      {balancer::TraceEntry::Kind::kSkipped, {}, "e2", "m2", "", "rpm_exhausted"});
  result.trace.push_back(
      {balancer::TraceEntry::Kind::kSkipped, {}, "e3", "m1", "", "breaker_open"});
  const auto error = fromCallFailure(result);
  const auto text = error.args[0].get<std::string>();
  EXPECT_NE(text.find("tried: m1, m2"), std::string::npos) << text;
  EXPECT_NE(text.find("retry at 2023-11-14T22:13:20"), std::string::npos) << text;
  const auto back = allModelsUnavailable(error);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->models, (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(back->retry_at, f.retry_at_wall);
  EXPECT_FALSE(allModelsUnavailable(validationError("x")).has_value());
}

TEST(LlmErrorsTest, DataUrlsAreShortenedInMessages) {
  const std::string image = "data:image/png;base64," + std::string(100'000, 'Q');
  const auto error = fromCallFailure(failed(CallErrorKind::kCallerError, "Invalid image " + image));
  const auto text = error.args[0].get<std::string>();
  EXPECT_LT(text.size(), 300u) << text;
  EXPECT_NE(text.find("[100000 base64 chars]"), std::string::npos) << text;
}

TEST(LlmErrorsTest, RedactCapsLength) {
  EXPECT_EQ(redactForLog("abcdef", 3), "abc...");
  EXPECT_EQ(redactForLog("data:image/gif;base64,R0lG"), "data:image/gif;base64,R0lG");
}

}  // namespace
}  // namespace celeriac::worker::tasks
