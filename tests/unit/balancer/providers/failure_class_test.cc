#include "providers/failure_class.h"

#include <gtest/gtest.h>

namespace celeriac::balancer {
namespace {

HttpResponse status(int code) {
  HttpResponse r;
  r.status = code;
  return r;
}

HttpResponse transport(TransportError e) {
  HttpResponse r;
  r.error = e;
  return r;
}

TEST(FailureClassTest, ClassifiesStatuses) {
  EXPECT_EQ(classify(status(200)), FailureClass::kNone);
  EXPECT_EQ(classify(status(400)), FailureClass::kCallerError);
  EXPECT_EQ(classify(status(404)), FailureClass::kCallerError);
  EXPECT_EQ(classify(status(422)), FailureClass::kCallerError);
  EXPECT_EQ(classify(status(401)), FailureClass::kKeyInvalid);
  EXPECT_EQ(classify(status(403)), FailureClass::kKeyInvalid);
  EXPECT_EQ(classify(status(429)), FailureClass::kRateLimited);
  EXPECT_EQ(classify(status(503)), FailureClass::kOverloaded);
  EXPECT_EQ(classify(status(529)), FailureClass::kOverloaded);
  EXPECT_EQ(classify(status(500)), FailureClass::kServerError);
  EXPECT_EQ(classify(status(502)), FailureClass::kServerError);
}

TEST(FailureClassTest, ClassifiesTransportErrors) {
  EXPECT_EQ(classify(transport(TransportError::kTimeout)), FailureClass::kTimeout);
  EXPECT_EQ(classify(transport(TransportError::kConnectionReset)), FailureClass::kConnection);
  EXPECT_EQ(classify(transport(TransportError::kConnectFailed)), FailureClass::kConnection);
  EXPECT_EQ(classify(transport(TransportError::kCancelled)), FailureClass::kCancelled);
}

TEST(FailureClassTest, CallerErrorsAndRateLimitsNeverTouchEndpointHealth) {
  EXPECT_FALSE(countsAgainstEndpoint(FailureClass::kCallerError));
  EXPECT_FALSE(countsAgainstEndpoint(FailureClass::kRateLimited));
  EXPECT_FALSE(countsAgainstEndpoint(FailureClass::kKeyInvalid));
  EXPECT_TRUE(countsAgainstEndpoint(FailureClass::kOverloaded));
  EXPECT_TRUE(countsAgainstEndpoint(FailureClass::kTimeout));
  EXPECT_TRUE(countsAgainstEndpoint(FailureClass::kConnection));
}

TEST(FailureClassTest, OnlyCallerErrorsAndCancelStopTheCall) {
  EXPECT_FALSE(isRetryable(FailureClass::kCallerError));
  EXPECT_FALSE(isRetryable(FailureClass::kCancelled));
  EXPECT_TRUE(isRetryable(FailureClass::kRateLimited));
  EXPECT_TRUE(isRetryable(FailureClass::kKeyInvalid));
  EXPECT_TRUE(isRetryable(FailureClass::kServerError));
}

}  // namespace
}  // namespace celeriac::balancer
