// A stored FAILURE never carries a secret: a provider's error text may quote the key it
// refused, and every Python client reading the result would see it.

#include "worker/app/error_redaction.h"

#include "task_pipeline_fixture.h"
#include "worker/app/log_redactor.h"

namespace celeriac::worker::app::pipeline_test {
namespace {

TEST(ErrorRedactionTest, SecretsInArgsAtAnyDepthAndInTheTracebackAreMasked) {
  logRedactor().addSecret("registered-secret-value-42");
  celery::ExceptionInfo e{"RuntimeError", "builtins",
                          json::array({"Incorrect API key provided: sk-test-SECRET123456789",
                                       json{{"detail", "uses registered-secret-value-42"}}, 7}),
                          "Traceback: key=registered-secret-value-42"};
  redactSecrets(e);
  const std::string text = e.args.dump() + e.traceback;
  EXPECT_EQ(text.find("SECRET123456789"), std::string::npos) << text;
  EXPECT_EQ(text.find("registered-secret-value-42"), std::string::npos) << text;
  EXPECT_NE(text.find("Incorrect API key provided"), std::string::npos) << text;
  EXPECT_EQ(e.args[2], 7);
}

TEST_F(TaskPipelineTest, AFailureQuotingAKeyIsStoredWithTheKeyMasked) {
  make();
  pipeline_->onDelivery(delivery("celeriac.fail", "f1",
                                 json::array({"HTTP 401: Incorrect API key provided: "
                                              "sk-proj-abcdefghijklmnop123456"})));
  loop_.runReady();
  const auto* w = fake_.lastFor("f1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  const std::string doc = w->doc.dump();
  EXPECT_EQ(doc.find("abcdefghijklmnop123456"), std::string::npos) << doc;
  EXPECT_NE(doc.find("Incorrect API key provided"), std::string::npos) << doc;
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline_test
