// End-to-end tests of the llm-stub's run-time fault injection (POST /admin/faults).
// Each fault kind is checked for what the client actually sees on the wire.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "http_client.h"
#include "stub_process.h"

namespace celeriac::testing::stub {
namespace {

using std::chrono::milliseconds;

class LlmStubFaultTest : public ::testing::Test {
 protected:
  HttpResult call(const std::string& model = "gpt-4o", const std::string& key = "k1",
                  milliseconds timeout = std::chrono::seconds(5)) {
    return chat(stub_.port(), key, simpleChat(model, "hello"), timeout);
  }
  void arm(const nlohmann::json& spec) {
    const HttpResult r = armFault(stub_.port(), spec);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  std::string content(const HttpResult& r) {
    return r.json()["choices"][0]["message"]["content"].get<std::string>();
  }

  StubProcess stub_;
};

TEST_F(LlmStubFaultTest, StatusFaultAnswersWithTheStatusForItsCountThenStops) {
  arm({{"model", "gpt-4o"}, {"fault", "status"}, {"status", 503}, {"count", 2}});
  const HttpResult first = call();
  EXPECT_EQ(first.status, 503);
  EXPECT_EQ(first.json()["error"]["type"], "server_error");
  EXPECT_EQ(call("gpt-4o-mini").status, 200);  // other models are not affected
  EXPECT_EQ(call().status, 503);
  EXPECT_EQ(call().status, 200);  // count exhausted
  EXPECT_TRUE(request(stub_.port(), "GET", "/admin/faults").json()["faults"].empty());
  const auto s = stats(stub_.port());
  EXPECT_EQ(s["models"]["gpt-4o"]["faults"]["status"], 2);
  EXPECT_EQ(s["models"]["gpt-4o"]["by_status"]["503"], 2);
}

TEST_F(LlmStubFaultTest, StatusFaultCarriesCustomBodyAndHeaders) {
  arm({{"fault", "status"},
       {"status", 500},
       {"body", "upstream exploded"},
       {"headers", {{"retry-after", "2"}}}});
  const HttpResult r = call("any-model");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "upstream exploded");
  EXPECT_EQ(r.header("retry-after"), "2");
}

TEST_F(LlmStubFaultTest, OverloadedOnAnthropicUsesItsErrorShape) {
  arm({{"model", "claude*"}, {"fault", "status"}, {"status", 529}});
  const nlohmann::json body = {{"model", "claude-3-5-sonnet-latest"},
                               {"max_tokens", 10},
                               {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  const HttpResult r =
      request(stub_.port(), "POST", "/v1/messages", body.dump(), {{"x-api-key", "ak"}});
  EXPECT_EQ(r.status, 529);
  EXPECT_EQ(r.json()["error"]["type"], "overloaded_error");
}

TEST_F(LlmStubFaultTest, RateLimitFaultSends429WithRetryAfterAndCountsEarlyReturns) {
  arm({{"fault", "rate_limit"}, {"retry_after_s", 3}, {"retry_after_ms", 2500}, {"count", 1}});
  const HttpResult r = call();
  ASSERT_EQ(r.status, 429);
  EXPECT_EQ(r.header("retry-after"), "3");
  EXPECT_EQ(r.header("retry-after-ms"), "2500");
  EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_EQ(r.json()["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(call().status, 200);  // came back before 3 s: the stub notices
  const auto s = stats(stub_.port());
  EXPECT_EQ(s["keys"]["k1"]["rate_limited"], 1);
  EXPECT_EQ(s["keys"]["k1"]["received_during_retry_after"], 1);
  EXPECT_EQ(s["keys"]["k1"]["limiter_rejections"], 0);
}

TEST_F(LlmStubFaultTest, RateLimitFaultCanSendAnHttpDate) {
  arm({{"fault", "rate_limit"}, {"retry_after_s", 5}, {"retry_after_date", true}});
  const HttpResult r = call();
  ASSERT_EQ(r.status, 429);
  EXPECT_NE(r.header("retry-after").find(" GMT"), std::string::npos) << r.header("retry-after");
}

TEST_F(LlmStubFaultTest, KeyFaultAffectsOnlyThatKey) {
  arm({{"key", "revoked"}, {"fault", "status"}, {"status", 401}});
  const HttpResult bad = call("gpt-4o", "revoked");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.json()["error"]["type"], "invalid_request_error");
  EXPECT_EQ(call("gpt-4o", "good").status, 200);
  EXPECT_EQ(call("gpt-4o-mini", "revoked").status, 401);
}

TEST_F(LlmStubFaultTest, HangAcceptsAndNeverAnswersWhileOthersAreServed) {
  arm({{"fault", "hang"}, {"count", 1}});
  HttpClient hung(stub_.port());
  const HttpResult r = hung.send("POST", "/v1/chat/completions", simpleChat("gpt-4o", "x").dump(),
                                 {{"x-api-key", "k"}}, milliseconds(400));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_TRUE(hung.connected());
  EXPECT_EQ(call().status, 200);  // the loop is not blocked
  EXPECT_EQ(stats(stub_.port())["totals"]["in_flight"], 1);
  hung.close();
  // The stub notices the peer left and drops the reply (bounded wait).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  nlohmann::json s;
  do {
    s = stats(stub_.port());
    if (s["totals"]["dropped"] == 1) break;
    std::this_thread::sleep_for(milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(s["totals"]["dropped"], 1);
  EXPECT_EQ(s["totals"]["in_flight"], 0);
}

TEST_F(LlmStubFaultTest, SlowDripSendsTheAnswerInSmallPiecesOverTheDuration) {
  arm({{"fault", "slow_drip"}, {"duration_ms", 600}, {"chunk_bytes", 64}});
  const HttpResult r = call();
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.json().is_object());
  EXPECT_GE(r.elapsed, milliseconds(400));
  EXPECT_GE(r.reads, 5);
}

TEST_F(LlmStubFaultTest, MalformedJsonIs200WithABrokenBody) {
  arm({{"fault", "malformed_json"}});
  const HttpResult r = call();
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.body.empty());
  EXPECT_TRUE(r.json().is_discarded());
}

TEST_F(LlmStubFaultTest, ResetClosesWithoutAnyResponse) {
  arm({{"fault", "reset"}, {"count", 1}});
  const HttpResult r = call();
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_TRUE(r.reset || r.closed);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(call().status, 200);
}

TEST_F(LlmStubFaultTest, CloseEndsTheConnectionWithoutAnyResponseAndCountsTheRequest) {
  arm({{"fault", "close"}, {"count", 1}});
  const HttpResult r = call();
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_TRUE(r.closed || r.reset);
  EXPECT_FALSE(r.timed_out);
  const nlohmann::json totals = stats(stub_.port())["totals"];
  EXPECT_EQ(totals["received"], 1) << totals.dump();
  EXPECT_EQ(totals["dropped"], 1) << totals.dump();
  EXPECT_EQ(call().status, 200);
}

TEST_F(LlmStubFaultTest, InvalidJsonContentIsAWellFormedResponseWithNonJsonContent) {
  arm({{"fault", "invalid_json_content"}});
  auto body = simpleChat("gpt-4o", "analyse");
  body["response_format"] = {{"type", "json_object"}};
  const HttpResult r = chat(stub_.port(), "k", body);
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(r.json().is_object());
  EXPECT_TRUE(nlohmann::json::parse(content(r), nullptr, false).is_discarded()) << content(r);
}

TEST_F(LlmStubFaultTest, SchemaViolationIsValidJsonThatBreaksTheAnalysisSchema) {
  arm({{"fault", "schema_violation"}});
  const HttpResult r = call();
  ASSERT_EQ(r.status, 200);
  const auto a = nlohmann::json::parse(content(r), nullptr, false);
  ASSERT_TRUE(a.is_object());
  EXPECT_EQ(a["items"][0]["category"], "banana");
  EXPECT_GT(a["items"][0]["confidence"].get<double>(), 1.0);
  EXPECT_FALSE(a.contains("reason"));
}

TEST_F(LlmStubFaultTest, LatencyFaultAddsDelayForThatModelOnly) {
  // A delay far above what a loaded machine adds to an answer (the sanitizer build's
  // tests run four at a time): the other model's answer comes well before it.
  arm({{"model", "gpt-4o"}, {"fault", "latency"}, {"ms", 3000}});
  EXPECT_LT(call("gpt-4o-mini").elapsed, milliseconds(2000));
  const HttpResult slow = call("gpt-4o", "k1", std::chrono::seconds(30));
  EXPECT_EQ(slow.status, 200);
  EXPECT_GE(slow.elapsed, milliseconds(2990));
}

TEST_F(LlmStubFaultTest, FaultsAreListedRemovedAndValidated) {
  const HttpResult added =
      armFault(stub_.port(), nlohmann::json::array({{{"fault", "status"}, {"status", 500}},
                                                    {{"fault", "latency"}, {"ms", 5}}}));
  ASSERT_EQ(added.status, 200);
  ASSERT_EQ(added.json()["ids"].size(), 2u);
  const auto first_id = added.json()["ids"][0].get<int>();
  EXPECT_EQ(request(stub_.port(), "GET", "/admin/faults").json()["faults"].size(), 2u);
  EXPECT_EQ(request(stub_.port(), "DELETE", "/admin/faults/" + std::to_string(first_id)).status,
            200);
  EXPECT_EQ(call().status, 200);
  EXPECT_EQ(request(stub_.port(), "DELETE", "/admin/faults").json()["cleared"], 1);

  const HttpResult unknown = armFault(stub_.port(), {{"fault", "explode"}});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.json()["error"]["message"].get<std::string>().find("explode"),
            std::string::npos);
  EXPECT_EQ(armFault(stub_.port(), {{"fault", "status"}}).status, 400);  // no status
  EXPECT_EQ(armFault(stub_.port(), {{"fault", "latency"}, {"ms", -1}}).status, 400);
  EXPECT_TRUE(request(stub_.port(), "GET", "/admin/faults").json()["faults"].empty());
}

}  // namespace
}  // namespace celeriac::testing::stub
