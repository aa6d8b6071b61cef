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
  return CallResult{f, {}, std::nullopt};
}

// The exception a failed call is stored as (an Unavailable one's when it cannot park).
celery::ExceptionInfo exceptionOf(const LlmCallFailure& failure) {
  if (const auto* unavailable = std::get_if<Unavailable>(&failure)) {
    return unavailableError(*unavailable);
  }
  return std::get<Failure>(failure).error;
}

TEST(LlmErrorsTest, BalancerFailureKindsMapToDistinctTypes) {
  EXPECT_EQ(exceptionOf(fromCallFailure(failed(CallErrorKind::kCallerError, "bad"))).type,
            "LlmCallerError");
  EXPECT_EQ(exceptionOf(fromCallFailure(failed(CallErrorKind::kDeadlineExceeded, "late"))).type,
            "LlmDeadlineExceeded");
  EXPECT_EQ(exceptionOf(fromCallFailure(failed(CallErrorKind::kAttemptsExhausted, "503s"))).type,
            "LlmUnavailable");
  EXPECT_EQ(exceptionOf(fromCallFailure(failed(CallErrorKind::kAllUnavailable, "none"))).type,
            "AllModelsUnavailable");
  EXPECT_EQ(exceptionOf(fromCallFailure(failed(CallErrorKind::kCancelled, "stop"))).type,
            "LlmCancelled");
  EXPECT_EQ(exceptionOf(fromCallFailure(failed(CallErrorKind::kCallerError, "bad"))).module,
            "celeriac.errors");
}

TEST(LlmErrorsTest, AttemptsExhaustedOnPassingFailuresParksInsteadOfFailingEarly) {
  // Every model answering 503 ends in "attempts exhausted" before any breaker opens;
  // the task must be parked, not failed. Caught by the e2e parking test.
  for (auto cls : {balancer::FailureClass::kOverloaded, balancer::FailureClass::kServerError,
                   balancer::FailureClass::kTimeout, balancer::FailureClass::kConnection,
                   balancer::FailureClass::kRateLimited}) {
    auto result = failed(CallErrorKind::kAttemptsExhausted, "503s");
    std::get<CallFailure>(result.outcome).last_failure = cls;
    EXPECT_TRUE(std::holds_alternative<Unavailable>(fromCallFailure(result)));
    EXPECT_EQ(exceptionOf(fromCallFailure(result)).type, "AllModelsUnavailable");
  }
  auto bad_key = failed(CallErrorKind::kAttemptsExhausted, "401s");
  std::get<CallFailure>(bad_key.outcome).last_failure = balancer::FailureClass::kKeyInvalid;
  EXPECT_EQ(exceptionOf(fromCallFailure(bad_key)).type, "LlmUnavailable")
      << "a bad key does not heal by waiting";
}

TEST(LlmErrorsTest, AllModelsUnavailableCarriesRetryAtAndModelsTyped) {
  auto result = failed(CallErrorKind::kAllUnavailable, "no candidate available");
  auto& f = std::get<CallFailure>(result.outcome);
  f.retry_at_wall = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  result.trace.push_back(
      {balancer::TraceEntry::Kind::kSkipped, {}, "e1", "m1", "", "breaker_open"});
  result.trace.push_back(
      {balancer::TraceEntry::Kind::kSkipped, {}, "e2", "m2", "", "rpm_exhausted"});
  result.trace.push_back(
      {balancer::TraceEntry::Kind::kSkipped, {}, "e3", "m1", "", "breaker_open"});
  const LlmCallFailure failure = fromCallFailure(result);
  const auto* unavailable = std::get_if<Unavailable>(&failure);
  ASSERT_NE(unavailable, nullptr);
  EXPECT_EQ(unavailable->models, (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(unavailable->retry_at, f.retry_at_wall);
  EXPECT_NE(unavailable->message.find("tried: m1, m2"), std::string::npos) << unavailable->message;
  // Stored (when it cannot be parked) as Celery's wire form: [message, retry_at, models].
  const auto error = unavailableError(*unavailable);
  EXPECT_EQ(error.type, "AllModelsUnavailable");
  EXPECT_EQ(error.module, "celeriac.errors");
  const auto text = error.args[0].get<std::string>();
  EXPECT_NE(text.find("retry at 2023-11-14T22:13:20"), std::string::npos) << text;
  EXPECT_EQ(error.args[1], "2023-11-14T22:13:20.000000+00:00");
  EXPECT_EQ(error.args[2], nlohmann::json::array({"m1", "m2"}));
}

TEST(LlmErrorsTest, RetryAtIsKeptToTheMicrosecondAsStored) {
  auto result = failed(CallErrorKind::kAllUnavailable, "none");
  std::get<CallFailure>(result.outcome).retry_at_wall =
      std::chrono::system_clock::time_point(std::chrono::nanoseconds(1'700'000'000'123'456'789));
  const auto unavailable = std::get<Unavailable>(fromCallFailure(result));
  EXPECT_EQ(unavailable.retry_at, std::chrono::system_clock::time_point(
                                      std::chrono::microseconds(1'700'000'000'123'456)));
  EXPECT_EQ(unavailableError(unavailable).args[1], "2023-11-14T22:13:20.123456+00:00");
  result = failed(CallErrorKind::kAllUnavailable, "none");
  EXPECT_TRUE(unavailableError(std::get<Unavailable>(fromCallFailure(result))).args[1].is_null());
}

TEST(LlmErrorsTest, DataUrlsAreShortenedInMessages) {
  const std::string image = "data:image/png;base64," + std::string(100'000, 'Q');
  const auto error =
      exceptionOf(fromCallFailure(failed(CallErrorKind::kCallerError, "Invalid image " + image)));
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
