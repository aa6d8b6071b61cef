#include "worker/celery/exception_info.h"

#include <gtest/gtest.h>

#include "worker/celery/task_state.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

TEST(ExceptionInfoTest, EncodesCeleryTriple) {
  const ExceptionInfo exc{"MyCppError", "cppworker.errors", json::array({"boom", 42}), "", false};
  EXPECT_EQ(encodeException(exc), json({{"exc_type", "MyCppError"},
                                        {"exc_message", {"boom", 42}},
                                        {"exc_module", "cppworker.errors"}}));
}

TEST(ExceptionInfoTest, EmptyModuleIsNullAndBareArgIsWrapped) {
  const ExceptionInfo exc{"E", "", "just text", "", false};
  const json encoded = encodeException(exc);
  EXPECT_TRUE(encoded.at("exc_module").is_null());
  EXPECT_EQ(encoded.at("exc_message"), json::array({"just text"}));
}

TEST(ExceptionInfoTest, ZeroArgsStayAnEmptyList) {
  EXPECT_EQ(encodeException(softTimeLimitExceeded()).at("exc_message"), json::array());
}

TEST(ExceptionInfoTest, BuiltinNamesMapToBuiltins) {
  for (const char* name : {"ValueError", "RuntimeError", "KeyError", "TypeError", "TimeoutError",
                           "ConnectionError", "Exception", "NotImplementedError"}) {
    EXPECT_EQ(moduleForExceptionType(name, "celeriac.errors"), "builtins") << name;
  }
}

TEST(ExceptionInfoTest, OtherNamesAndProcessStoppersKeepTheDefaultModule) {
  for (const char* name : {"MyError", "valueerror", "SystemExit", "KeyboardInterrupt",
                           "GeneratorExit", "BaseException", ""}) {
    EXPECT_EQ(moduleForExceptionType(name, "celeriac.errors"), "celeriac.errors") << name;
  }
}

TEST(ExceptionInfoTest, CelerysOwnExceptionsAreExact) {
  EXPECT_EQ(encodeException(notRegistered("a.b")), json({{"exc_type", "NotRegistered"},
                                                         {"exc_message", {"a.b"}},
                                                         {"exc_module", "celery.exceptions"}}));
  for (const char* reason : {"expired", "revoked", "terminated"}) {
    EXPECT_EQ(encodeException(taskRevoked(reason)), json({{"exc_type", "TaskRevokedError"},
                                                          {"exc_message", {reason}},
                                                          {"exc_module", "celery.exceptions"}}));
  }
  EXPECT_EQ(encodeException(contentDisallowed("m")), json({{"exc_type", "ContentDisallowed"},
                                                           {"exc_message", {"m"}},
                                                           {"exc_module", "kombu.exceptions"}}));
  EXPECT_EQ(encodeException(maxRetriesExceeded("m")).at("exc_type"), "MaxRetriesExceededError");
  EXPECT_TRUE(notRegistered("x").omit_traceback);
  EXPECT_TRUE(taskRevoked("revoked").omit_traceback);
}

TEST(ExceptionInfoTest, TimeLimitKeepsWholeSecondsIntegral) {
  // Celery stored [30] for time_limit=30, not [30.0].
  EXPECT_EQ(encodeException(timeLimitExceeded(30)).at("exc_message").dump(), "[30]");
  EXPECT_EQ(encodeException(timeLimitExceeded(2.5)).at("exc_message").dump(), "[2.5]");
  EXPECT_EQ(timeLimitExceeded(30).module, "billiard.exceptions");
}

TEST(TaskStateTest, NamesRoundTripAndReadinessFollowsCelery) {
  for (TaskState state :
       {TaskState::kPending, TaskState::kReceived, TaskState::kStarted, TaskState::kRetry,
        TaskState::kSuccess, TaskState::kFailure, TaskState::kRevoked}) {
    EXPECT_EQ(parseTaskState(stateName(state)), state);
  }
  EXPECT_EQ(stateName(TaskState::kSuccess), "SUCCESS");
  EXPECT_FALSE(parseTaskState("PROGRESS"));
  EXPECT_TRUE(isReady(TaskState::kSuccess));
  EXPECT_TRUE(isReady(TaskState::kFailure));
  EXPECT_TRUE(isReady(TaskState::kRevoked));
  EXPECT_FALSE(isReady(TaskState::kStarted));
  EXPECT_FALSE(isReady(TaskState::kRetry));
  EXPECT_FALSE(isReady(TaskState::kPending));
  EXPECT_TRUE(isExceptionState(TaskState::kRetry));
  EXPECT_FALSE(isExceptionState(TaskState::kSuccess));
}

}  // namespace
}  // namespace celeriac::worker::celery
