// End-to-end tests of the llm-stub's API endpoints, rate limiting and admin counters.
// Each test starts the real binary on a free 127.0.0.1 port; every wait is bounded.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <set>

#include "http_client.h"
#include "stub_process.h"

namespace celeriac::testing::stub {
namespace {

using std::chrono::milliseconds;

const std::set<std::string> kCategories{"plastic", "paper",     "glass",       "metal",   "food",
                                        "general", "hazardous", "electronics", "textile", "other"};

nlohmann::json analysisRequest(const std::string& hint) {
  return {{"model", "gpt-4o"},
          {"response_format", {{"type", "json_object"}}},
          {"messages",
           {{{"role", "system"}, {"content", "You classify household waste from a photo."}},
            {{"role", "user"},
             {"content",
              {{{"type", "text"}, {"text", hint}},
               {{"type", "image_url"}, {"image_url", {{"url", "https://img.test/a.jpg"}}}}}}}}}};
}

// Go duration as OpenAI sends it: [<h>h][<m>m]<s>[.<frac>]s or <ms>ms. (No std::regex:
// GCC 12 warns falsely inside it under the sanitizer build.)
bool isGoDuration(const std::string& s) {
  if (s.size() > 2 && s.ends_with("ms")) {
    return std::all_of(s.begin(), s.end() - 2, [](unsigned char c) { return std::isdigit(c); });
  }
  if (s.empty() || s.back() != 's') return false;
  bool digits = false;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    const char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits = true;
    } else if ((c == 'h' || c == 'm' || c == '.') && digits) {
      digits = false;
    } else {
      return false;
    }
  }
  return digits;
}

// RFC 3339 UTC with whole seconds: YYYY-MM-DDTHH:MM:SSZ.
bool isRfc3339Utc(const std::string& s) {
  const std::string shape = "dddd-dd-ddTdd:dd:ddZ";
  if (s.size() != shape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != shape[i]) {
      return false;
    }
  }
  return true;
}

std::string contentOf(const HttpResult& r) {
  return r.json()["choices"][0]["message"]["content"].get<std::string>();
}

TEST(LlmStubApiTest, ChatCompletionHasOpenAiShapeUsageAndRateLimitHeaders) {
  StubProcess stub;
  const HttpResult r = chat(stub.port(), "k1", simpleChat("gpt-4o", "hello there stub"));
  ASSERT_EQ(r.status, 200);
  const auto j = r.json();
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_TRUE(j["id"].is_string());
  EXPECT_TRUE(j["created"].is_number_integer());
  EXPECT_EQ(j["model"], "gpt-4o");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  const std::string content = j["choices"][0]["message"]["content"];
  EXPECT_NE(content.find("gpt-4o"), std::string::npos);
  EXPECT_NE(content.find("hello there stub"), std::string::npos);
  const auto& u = j["usage"];
  EXPECT_EQ(u["prompt_tokens"], 4);  // "hello there stub": 16 chars / 4
  EXPECT_GT(u["completion_tokens"].get<int>(), 0);
  EXPECT_EQ(u["total_tokens"].get<int>(),
            u["prompt_tokens"].get<int>() + u["completion_tokens"].get<int>());

  for (const char* h : {"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"}) {
    EXPECT_TRUE(isGoDuration(r.header(h))) << h << "=" << r.header(h);
  }
  EXPECT_FALSE(r.header("x-ratelimit-limit-requests").empty());
  EXPECT_FALSE(r.header("x-ratelimit-remaining-requests").empty());
  EXPECT_FALSE(r.header("x-ratelimit-limit-tokens").empty());
  EXPECT_FALSE(r.header("x-ratelimit-remaining-tokens").empty());

  // Deterministic: the same request gets the same content and usage.
  const HttpResult again = chat(stub.port(), "k1", simpleChat("gpt-4o", "hello there stub"));
  EXPECT_EQ(contentOf(again), content);
  EXPECT_EQ(again.json()["usage"], u);
}

TEST(LlmStubApiTest, CompletionTokensFlagSetsReportedUsage) {
  StubProcess stub({"--completion-tokens", "42"});
  const HttpResult r = chat(stub.port(), "k1", simpleChat("gpt-4o", "hi"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["usage"]["completion_tokens"], 42);
}

TEST(LlmStubApiTest, WasteAnalysisJsonRequestGetsSchemaShapedObject) {
  StubProcess stub;
  const HttpResult r = chat(stub.port(), "k1", analysisRequest("this is a glass bottle"));
  ASSERT_EQ(r.status, 200);
  const auto a = nlohmann::json::parse(contentOf(r));
  ASSERT_TRUE(a["items"].is_array());
  ASSERT_FALSE(a["items"].empty());
  for (const auto& item : a["items"]) {
    EXPECT_TRUE(item["name"].is_string());
    EXPECT_TRUE(kCategories.count(item["category"].get<std::string>()));
    EXPECT_TRUE(item["material"].is_string());
    EXPECT_TRUE(item["needs_cleaning"].is_boolean());
    EXPECT_TRUE(item["needs_separation"].is_boolean());
    const double c = item["confidence"];
    EXPECT_GE(c, 0.0);
    EXPECT_LE(c, 1.0);
  }
  EXPECT_EQ(a["overall_category"], "glass");  // the hint steers the category
  EXPECT_TRUE(a["reason"].is_string());
  // An image part costs 85 tokens in the estimate.
  EXPECT_GT(r.json()["usage"]["prompt_tokens"].get<int>(), 85);

  // Without a category word the prompt's hash picks one, stably.
  const HttpResult x = chat(stub.port(), "k1", analysisRequest("what is this?"));
  const HttpResult y = chat(stub.port(), "k1", analysisRequest("what is this?"));
  EXPECT_EQ(contentOf(x), contentOf(y));
  EXPECT_TRUE(kCategories.count(nlohmann::json::parse(contentOf(x))["overall_category"]));
}

TEST(LlmStubApiTest, OtherJsonRequestsGetASmallValidObject) {
  StubProcess stub;
  auto body = simpleChat("gpt-4o-mini", "write the answer");
  body["response_format"] = {{"type", "json_object"}};
  const HttpResult r = chat(stub.port(), "k1", body);
  ASSERT_EQ(r.status, 200);
  const auto j = nlohmann::json::parse(contentOf(r));
  EXPECT_NE(j["answer"].get<std::string>().find("gpt-4o-mini"), std::string::npos);
  EXPECT_TRUE(j["steps"].is_array());
}

TEST(LlmStubApiTest, AnthropicMessagesHaveTheirShapeAndHeaders) {
  StubProcess stub;
  const nlohmann::json body = {{"model", "claude-3-5-sonnet-latest"},
                               {"max_tokens", 100},
                               {"system", "Be brief."},
                               {"messages", {{{"role", "user"}, {"content", "hello claude"}}}}};
  const HttpResult r = request(stub.port(), "POST", "/v1/messages", body.dump(),
                               {{"x-api-key", "ak"}, {"anthropic-version", "2023-06-01"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const auto j = r.json();
  EXPECT_EQ(j["type"], "message");
  EXPECT_EQ(j["role"], "assistant");
  EXPECT_EQ(j["content"][0]["type"], "text");
  EXPECT_NE(j["content"][0]["text"].get<std::string>().find("hello claude"), std::string::npos);
  EXPECT_GT(j["usage"]["input_tokens"].get<int>(), 0);
  EXPECT_GT(j["usage"]["output_tokens"].get<int>(), 0);
  EXPECT_TRUE(isRfc3339Utc(r.header("anthropic-ratelimit-requests-reset")))
      << r.header("anthropic-ratelimit-requests-reset");
  EXPECT_TRUE(isRfc3339Utc(r.header("anthropic-ratelimit-tokens-reset")));
  EXPECT_FALSE(r.header("anthropic-ratelimit-requests-remaining").empty());

  const HttpResult bad = request(stub.port(), "POST", "/v1/messages", "{", {{"x-api-key", "ak"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["type"], "error");
  EXPECT_EQ(bad.json()["error"]["type"], "invalid_request_error");
}

TEST(LlmStubApiTest, EmbeddingsAreDeterministicUnitVectors) {
  StubProcess stub;
  const nlohmann::json body = {{"model", "text-embedding-3-small"}, {"input", {"alpha", "beta"}}};
  const Headers key{{"Authorization", "Bearer k1"}};
  const HttpResult r = request(stub.port(), "POST", "/v1/embeddings", body.dump(), key);
  ASSERT_EQ(r.status, 200);
  const auto j = r.json();
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  for (const auto& d : j["data"]) {
    ASSERT_EQ(d["embedding"].size(), 8u);
    double norm = 0;
    for (double x : d["embedding"]) norm += x * x;
    EXPECT_NEAR(norm, 1.0, 1e-3);
  }
  EXPECT_NE(j["data"][0]["embedding"], j["data"][1]["embedding"]);
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  const HttpResult again = request(stub.port(), "POST", "/v1/embeddings", body.dump(), key);
  EXPECT_EQ(again.json()["data"], j["data"]);
}

TEST(LlmStubApiTest, ModelsListsTheConfiguredModels) {
  StubProcess stub({"--models", "m-one,m-two"});
  const HttpResult r = request(stub.port(), "GET", "/v1/models", "", {{"x-api-key", "k"}});
  ASSERT_EQ(r.status, 200);
  const auto j = r.json();
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["id"], "m-one");
  EXPECT_EQ(j["data"][1]["id"], "m-two");
}

TEST(LlmStubApiTest, ErrorsHaveOpenAiShape) {
  StubProcess stub;
  const HttpResult no_key =
      request(stub.port(), "POST", "/v1/chat/completions", simpleChat("gpt-4o", "x").dump());
  EXPECT_EQ(no_key.status, 401);
  EXPECT_TRUE(no_key.json()["error"]["message"].is_string());

  const HttpResult unknown = request(stub.port(), "GET", "/v1/nothing-here");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_TRUE(unknown.json()["error"]["type"].is_string());

  const HttpResult bad_json = request(stub.port(), "POST", "/v1/chat/completions", "{nope",
                                      {{"Authorization", "Bearer k"}});
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.json()["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(bad_json.json()["error"]["message"].is_string());

  const HttpResult no_model = chat(stub.port(), "k", {{"messages", nlohmann::json::array()}});
  EXPECT_EQ(no_model.status, 400);
  EXPECT_EQ(stats(stub.port())["totals"]["requests_without_key"], 1);
}

TEST(LlmStubApiTest, KeepAliveServesManyRequestsOnOneConnection) {
  StubProcess stub;
  HttpClient client(stub.port());
  for (int i = 0; i < 5; ++i) {
    const HttpResult r = client.send("POST", "/v1/chat/completions",
                                     simpleChat("gpt-4o", "n" + std::to_string(i)).dump(),
                                     {{"Authorization", "Bearer k1"}});
    ASSERT_EQ(r.status, 200);
    EXPECT_TRUE(client.connected());
  }
  EXPECT_EQ(stats(stub.port())["totals"]["connections_accepted"], 2);  // client + this one
}

TEST(LlmStubApiTest, PipelinedRequestsAreAnsweredInOrder) {
  StubProcess stub;
  const int fd = connectLoopback(stub.port());
  ASSERT_GE(fd, 0);
  // Two requests in one write; the first is slower, yet its answer must come first.
  const std::string both =
      formatRequest("POST", "/v1/chat/completions", simpleChat("gpt-4o", "first").dump(),
                    {{"x-api-key", "k"}, {"x-stub-latency-ms", "150"}}) +
      formatRequest("POST", "/v1/chat/completions", simpleChat("gpt-4o", "second").dump(),
                    {{"x-api-key", "k"}});
  ASSERT_EQ(::send(fd, both.data(), both.size(), MSG_NOSIGNAL), static_cast<ssize_t>(both.size()));
  ResponseParser parser;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buf[16384];
  while (parser.completed() < 2 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    ASSERT_TRUE(parser.feed(buf, static_cast<std::size_t>(n)));
  }
  ::close(fd);
  ASSERT_EQ(parser.completed(), 2u);
  EXPECT_NE(parser.all()[0].body.find("first"), std::string::npos);
  EXPECT_NE(parser.all()[1].body.find("second"), std::string::npos);
}

TEST(LlmStubApiTest, MalformedHttpGets400AndTheConnectionCloses) {
  StubProcess stub;
  const int fd = connectLoopback(stub.port());
  ASSERT_GE(fd, 0);
  const std::string junk = "GARBAGE \x01\r\n\r\n";
  ASSERT_EQ(::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL), static_cast<ssize_t>(junk.size()));
  ResponseParser parser;
  bool eof = false;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!eof && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      eof = true;
    } else {
      ASSERT_TRUE(parser.feed(buf, static_cast<std::size_t>(n)));
    }
  }
  ::close(fd);
  ASSERT_TRUE(parser.complete());
  EXPECT_EQ(parser.first().status, 400);
  EXPECT_EQ(parser.first().json()["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(eof);
}

TEST(LlmStubApiTest, RpmLimitAnswers429WithRetryAfterAndStatsShowTheWindowMaximum) {
  StubProcess stub({"--rpm-limit", "5"});
  int ok = 0;
  int limited = 0;
  for (int i = 0; i < 8; ++i) {
    const HttpResult r = chat(stub.port(), "limited", simpleChat("gpt-4o", "x"));
    if (r.status == 200) {
      ++ok;
      EXPECT_EQ(r.header("x-ratelimit-limit-requests"), "5");
      EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), std::to_string(5 - ok));
    } else {
      ASSERT_EQ(r.status, 429);
      ++limited;
      const int retry_after = std::stoi(r.header("retry-after"));
      EXPECT_GE(retry_after, 1);
      EXPECT_LE(retry_after, 60);
      EXPECT_EQ(r.json()["error"]["code"], "rate_limit_exceeded");
    }
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(limited, 3);
  // Another key has its own window.
  EXPECT_EQ(chat(stub.port(), "other", simpleChat("gpt-4o", "x")).status, 200);

  const auto s = stats(stub.port());
  const auto& k = s["keys"]["limited"];
  EXPECT_EQ(k["received"], 8);
  EXPECT_EQ(k["served"], 5);
  EXPECT_EQ(k["rate_limited"], 3);
  EXPECT_EQ(k["limiter_rejections"], 3);
  EXPECT_EQ(k["max_window_accepted"], 5);
  EXPECT_EQ(k["max_window_received"], 8);
  // Requests 7 and 8 came before the Retry-After sent with the 6th ran out.
  EXPECT_EQ(k["received_during_retry_after"], 2);
  EXPECT_EQ(s["models"]["gpt-4o"]["received"], 9);
  EXPECT_EQ(s["rpm_limit"], 5);

  EXPECT_EQ(request(stub.port(), "POST", "/admin/reset").status, 200);
  const auto zero = stats(stub.port());
  EXPECT_TRUE(zero["keys"].empty());
  EXPECT_EQ(zero["totals"]["received"], 0);
  EXPECT_EQ(chat(stub.port(), "limited", simpleChat("gpt-4o", "x")).status, 200);
}

TEST(LlmStubApiTest, LatencyFlagAndHeaderDelayAnswers) {
  StubProcess stub({"--latency-ms", "200"});
  const HttpResult r = chat(stub.port(), "k", simpleChat("gpt-4o", "x"));
  ASSERT_EQ(r.status, 200);
  EXPECT_GE(r.elapsed, milliseconds(190));
  const HttpResult more =
      request(stub.port(), "POST", "/v1/chat/completions", simpleChat("gpt-4o", "x").dump(),
              {{"x-api-key", "k"}, {"x-stub-latency-ms", "200"}});
  EXPECT_GE(more.elapsed, milliseconds(390));
}

TEST(LlmStubApiTest, AdminConfigChangesLimitAndLatencyAtRunTime) {
  StubProcess stub;
  const HttpResult set =
      request(stub.port(), "POST", "/admin/config", R"({"rpm_limit": 1, "latency_ms": 100})");
  ASSERT_EQ(set.status, 200);
  EXPECT_EQ(set.json()["rpm_limit"], 1);
  const HttpResult first = chat(stub.port(), "k", simpleChat("gpt-4o", "x"));
  EXPECT_EQ(first.status, 200);
  EXPECT_GE(first.elapsed, milliseconds(95));
  EXPECT_EQ(chat(stub.port(), "k", simpleChat("gpt-4o", "x")).status, 429);
  EXPECT_EQ(request(stub.port(), "POST", "/admin/config", R"({"bogus": 1})").status, 400);
}

TEST(LlmStubApiTest, SigtermClosesCleanlyWithOpenConnections) {
  StubProcess stub({"--latency-ms", "10000"});
  HttpClient idle(stub.port());
  ASSERT_EQ(idle.send("GET", "/admin/health").status, 200);
  HttpClient waiting(stub.port());
  // This one stays in flight (10 s latency) when the signal comes.
  const HttpResult pending =
      waiting.send("POST", "/v1/chat/completions", simpleChat("gpt-4o", "x").dump(),
                   {{"x-api-key", "k"}}, milliseconds(100));
  EXPECT_TRUE(pending.timed_out);
  EXPECT_EQ(stub.stop(std::chrono::seconds(3)), 0);
}

}  // namespace
}  // namespace celeriac::testing::stub
