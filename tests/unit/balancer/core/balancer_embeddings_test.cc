// Balancer::submit(EmbeddingRequest): embeddings calls go through the same call loop as
// chat (routes, fallbacks, admission, breakers, failure classes, retries, trace); only
// the wire format and the token reservation differ, and Anthropic endpoints are skipped.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "balancer/balancer.h"
#include "balancer/config_loader.h"
#include "fake_loop.h"
#include "providers/rate_limit_info.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using celeriac::testing::FakeDispatcher;
using celeriac::testing::FakeTransport;
using nlohmann::json;

// A reply embedding `n` inputs as [i, 0.5], listed in reverse order (the API does not
// promise order; `index` does).
std::string embeddingsBody(std::size_t n, const std::string& model, int prompt_tokens) {
  json data = json::array();
  for (std::size_t i = n; i-- > 0;) {
    data.push_back(
        {{"object", "embedding"}, {"index", i}, {"embedding", {static_cast<double>(i), 0.5}}});
  }
  return json{{"object", "list"},
              {"data", data},
              {"model", model},
              {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}}
      .dump();
}

// Anthropic first, serving any model: it must be skipped for embeddings, never sent to.
constexpr const char* kConfig = R"(
timeout: 120
max_queue_wait: 90
backoff: {base: 0.1, cap: 1}
max_attempts: 4
default_max_tokens: 1024
circuit_breaker: {consecutive_failures: 3, cooldown: 60}
endpoints:
  - {name: claude, url: "http://claude/v1", provider: anthropic, models: ["*"],
     api_key_env: KEY_B}
  - name: oai
    url: "http://oai/v1"
    models: [emb-large, emb-small, emb-slow]
    api_key_env: KEY_A
    limits: {emb-large: {tpm: 1000}, emb-slow: {rpm: 1}}
routes:
  search: {normal: [emb-large, emb-small]}
fallbacks:
  emb-large: [emb-small]
pricing:
  emb-large: {input: 0.13, output: 0}
)";

class BalancerEmbeddingsTest : public ::testing::Test {
 protected:
  void make(const std::string& yaml = kConfig) {
    balancer_ =
        Balancer::create(
            ConfigLoader::fromYaml(yaml).value(), loop_, http_,
            ConfigLoader::secretResolver({{"KEY_A", "sk-a"}, {"KEY_B", "sk-b"}}, nullptr), 1)
            .value();
  }
  static EmbeddingRequest request(const std::string& model,
                                  std::vector<std::string> input = {"first text", "second"}) {
    EmbeddingRequest r;
    r.model = model;
    r.input = std::move(input);
    return r;
  }
  CallId submit(EmbeddingRequest r) {
    return balancer_->submit(std::move(r),
                             [this](CallResult res) { results_.push_back(std::move(res)); });
  }
  // The last request sent, and its JSON body.
  const HttpRequest& last() const { return http_.request(http_.count() - 1); }
  json lastBody() const { return json::parse(last().body); }
  void replyLast(int status, const std::string& body) {
    http_.reply(http_.count() - 1, status, body);
  }
  static bool traceHas(const CallResult& r, TraceEntry::Kind kind, const std::string& reason,
                       const std::string& endpoint = "") {
    for (const auto& t : r.trace) {
      if (t.kind == kind && t.reason == reason && (endpoint.empty() || t.endpoint == endpoint)) {
        return true;
      }
    }
    return false;
  }
  json bucket(const std::string& model) {
    const json stats = balancer_->stats();
    for (const auto& m : stats["endpoints"][1]["models"]) {
      if (m["model"] == model) return m["buckets"][0];
    }
    return nullptr;
  }

  FakeDispatcher loop_;
  FakeTransport http_{loop_};
  std::unique_ptr<Balancer> balancer_;
  std::vector<CallResult> results_;
};

TEST_F(BalancerEmbeddingsTest, SuccessCarriesVectorsInInputOrderUsageCostAndTrace) {
  make();
  submit(request("emb-large"));
  EXPECT_EQ(http_.count(), 1u) << "nothing queued: sent at once, inside submit";
  EXPECT_TRUE(results_.empty());
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u) << "the Anthropic endpoint is never sent an embeddings call";
  EXPECT_EQ(last().url, "http://oai/v1/embeddings");
  EXPECT_EQ(findHeader(last().headers, "authorization")->value, "Bearer sk-a");
  EXPECT_EQ(lastBody(),
            (json{{"model", "emb-large"}, {"input", json::array({"first text", "second"})}}))
      << "no max_tokens, no routing fields";
  loop_.advance(40ms);
  replyLast(200, embeddingsBody(2, "emb-large-v3", 7));
  loop_.runReady();

  ASSERT_EQ(results_.size(), 1u);
  ASSERT_TRUE(results_[0].ok()) << results_[0].failure().message;
  EXPECT_FALSE(results_[0].request.has_value()) << "only a chat request is handed back";
  const CallSuccess& s = results_[0].success();
  ASSERT_EQ(s.vectors.size(), 2u);
  EXPECT_EQ(s.vectors[0], (std::vector<double>{0, 0.5}));
  EXPECT_EQ(s.vectors[1], (std::vector<double>{1, 0.5}));
  EXPECT_TRUE(s.content.empty());
  EXPECT_EQ(s.model, "emb-large");
  EXPECT_EQ(s.provider_model, "emb-large-v3");
  EXPECT_EQ(s.endpoint, "oai");
  EXPECT_EQ(s.key_alias, "oai");
  EXPECT_EQ(s.latency, 40ms);
  EXPECT_EQ(s.attempts, 1);
  ASSERT_TRUE(s.usage.has_value());
  EXPECT_EQ(s.usage->input_tokens, 7);
  EXPECT_EQ(s.usage->output_tokens, 0);
  EXPECT_DOUBLE_EQ(s.cost_usd, 7 * 0.13 / 1e6);
  EXPECT_TRUE(
      traceHas(results_[0], TraceEntry::Kind::kSkipped, "embeddings_unsupported", "claude"));
  EXPECT_TRUE(traceHas(results_[0], TraceEntry::Kind::kAttempt, "ok", "oai"));

  const json stats = balancer_->stats();
  EXPECT_EQ(stats["total_success"], 1);
  EXPECT_TRUE(stats["endpoints"][0]["models"].empty()) << "no target for a skipped provider";
  EXPECT_EQ(stats["endpoints"][1]["models"][0]["tokens_in"], 7);
  EXPECT_EQ(stats["endpoints"][1]["models"][0]["tokens_out"], 0);
}

TEST_F(BalancerEmbeddingsTest, ReservesTheInputEstimateOnlyAndReconcilesWithUsage) {
  make();
  EmbeddingRequest r = request("emb-large");
  r.estimated_prompt_tokens = 300;
  submit(r);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u) << "a chat call would need 300 + 1024 > 1000 tokens";
  EXPECT_NEAR(bucket("emb-large")["tpm_level"].get<double>(), 700, 1e-6);
  replyLast(200, embeddingsBody(2, "emb-large", 10));
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  EXPECT_NEAR(bucket("emb-large")["tpm_level"].get<double>(), 990, 1e-6)
      << "the unused estimate is refunded";
}

TEST_F(BalancerEmbeddingsTest, EmptyTokenBucketMovesAlongTheChainWithTheReasonInTheTrace) {
  make();
  EmbeddingRequest r = request("emb-large");
  r.estimated_prompt_tokens = 600;
  submit(r);
  submit(r);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  EXPECT_EQ(json::parse(http_.request(0).body)["model"], "emb-large");
  EXPECT_EQ(json::parse(http_.request(1).body)["model"], "emb-small");
  http_.reply(0, 200, embeddingsBody(2, "emb-large", 600));
  http_.reply(1, 200, embeddingsBody(2, "emb-small", 600));
  loop_.runReady();
  ASSERT_EQ(results_.size(), 2u);
  const CallResult& second = results_[0].success().model == "emb-small" ? results_[0] : results_[1];
  EXPECT_TRUE(traceHas(second, TraceEntry::Kind::kSkipped, "tpm_exhausted", "oai"));
}

TEST_F(BalancerEmbeddingsTest, WaitsForTheRequestWindowWithATimerNotPolling) {
  make();
  submit(request("emb-slow"));
  submit(request("emb-slow"));
  loop_.runReady();
  EXPECT_EQ(http_.count(), 1u) << "rpm 1: the second call waits";
  EXPECT_EQ(loop_.pendingTimers(), 1u);
  http_.reply(0, 200, embeddingsBody(2, "emb-slow", 3));
  loop_.advance(59'999ms);
  EXPECT_EQ(http_.count(), 1u);
  EXPECT_EQ(results_.size(), 1u);
  loop_.advance(1ms);
  ASSERT_EQ(http_.count(), 2u) << "due exactly when the first send leaves the window";
  replyLast(200, embeddingsBody(2, "emb-slow", 3));
  loop_.runReady();
  ASSERT_EQ(results_.size(), 2u);
  ASSERT_TRUE(results_[1].ok());
  EXPECT_TRUE(traceHas(results_[1], TraceEntry::Kind::kSkipped, "rpm_exhausted", "oai"));
  EXPECT_TRUE(traceHas(results_[1], TraceEntry::Kind::kWait, "capacity"));
  EXPECT_EQ(results_[1].success().total, 60s);
}

TEST_F(BalancerEmbeddingsTest, OverloadRetriesOnTheFallbackModel) {
  make();
  submit(request("emb-large"));
  loop_.runReady();
  replyLast(503, "");
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  EXPECT_EQ(last().url, "http://oai/v1/embeddings");
  EXPECT_EQ(lastBody()["model"], "emb-small");
  replyLast(200, embeddingsBody(2, "emb-small", 5));
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  EXPECT_EQ(results_[0].success().model, "emb-small");
  EXPECT_EQ(results_[0].success().attempts, 2);
  EXPECT_TRUE(traceHas(results_[0], TraceEntry::Kind::kAttempt, "overloaded"));
  EXPECT_TRUE(traceHas(results_[0], TraceEntry::Kind::kSkipped, "backoff"));
}

TEST_F(BalancerEmbeddingsTest, ReplyMissingAVectorIsMalformedAndRetried) {
  make();
  submit(request("emb-large"));
  loop_.runReady();
  replyLast(200, embeddingsBody(1, "emb-large", 5));  // two inputs, one vector
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  replyLast(200, embeddingsBody(2, "emb-small", 5));
  loop_.runReady();
  ASSERT_TRUE(results_.at(0).ok());
  bool malformed = false;
  for (const auto& t : results_[0].trace) {
    malformed = malformed || (t.kind == TraceEntry::Kind::kAttempt &&
                              t.failure == FailureClass::kMalformed && t.http_status == 200);
  }
  EXPECT_TRUE(malformed);
}

TEST_F(BalancerEmbeddingsTest, ProviderCallerErrorIsNotRetried) {
  make();
  submit(request("emb-large"));
  loop_.runReady();
  replyLast(400, R"({"error":{"message":"This model's maximum context length is 8192"}})");
  loop_.runReady();
  EXPECT_EQ(http_.count(), 1u);
  ASSERT_EQ(results_.size(), 1u);
  const CallFailure& f = results_[0].failure();
  EXPECT_EQ(f.kind, CallErrorKind::kCallerError);
  EXPECT_EQ(f.http_status, 400);
  EXPECT_EQ(f.message, "This model's maximum context length is 8192");
}

TEST_F(BalancerEmbeddingsTest, FailuresOpenTheBreakerWhichIsThenSkipped) {
  make();
  for (int i = 0; i < 3; ++i) {  // each call: emb-large fails, emb-small answers
    submit(request("emb-large"));
    loop_.runReady();
    replyLast(500, "");
    loop_.runReady();
    replyLast(200, embeddingsBody(2, "emb-small", 5));
    loop_.runReady();
  }
  const std::size_t sent = http_.count();
  submit(request("emb-large"));
  loop_.runReady();
  ASSERT_EQ(http_.count(), sent + 1);
  EXPECT_EQ(lastBody()["model"], "emb-small");
  replyLast(200, embeddingsBody(2, "emb-small", 5));
  loop_.runReady();
  EXPECT_TRUE(traceHas(results_.back(), TraceEntry::Kind::kSkipped, "breaker_open", "oai"));
}

TEST_F(BalancerEmbeddingsTest, RouteGivesTheChainWhenNoModelIsNamed) {
  make();
  EmbeddingRequest r = request("");
  r.task_type = "search";
  r.priority = "normal";
  r.dimensions = 256;
  submit(r);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  EXPECT_EQ(lastBody()["model"], "emb-large");
  EXPECT_EQ(lastBody()["dimensions"], 256);
}

TEST_F(BalancerEmbeddingsTest, OnlyAnthropicServingTheModelIsACallerErrorWithoutSending) {
  make();
  submit(request("voyage-3"));  // only the "*" Anthropic endpoint serves it
  EXPECT_TRUE(results_.empty()) << "never calls back inside submit";
  loop_.runReady();
  EXPECT_EQ(http_.count(), 0u);
  ASSERT_EQ(results_.size(), 1u);
  const CallFailure& f = results_[0].failure();
  EXPECT_EQ(f.kind, CallErrorKind::kCallerError);
  EXPECT_EQ(f.last_failure, FailureClass::kCallerError);
  EXPECT_NE(f.message.find("voyage-3"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("embeddings"), std::string::npos) << f.message;
}

TEST_F(BalancerEmbeddingsTest, EmptyInputIsACallerError) {
  make();
  submit(request("emb-large", {}));
  submit(request("emb-large", {"a", ""}));
  loop_.runReady();
  EXPECT_EQ(http_.count(), 0u);
  ASSERT_EQ(results_.size(), 2u);
  EXPECT_EQ(results_[0].failure().kind, CallErrorKind::kCallerError);
  EXPECT_EQ(results_[0].failure().message, "embeddings request has no input");
  EXPECT_EQ(results_[1].failure().kind, CallErrorKind::kCallerError);
  EXPECT_EQ(results_[1].failure().message, "embeddings input[1] is empty");
}

TEST_F(BalancerEmbeddingsTest, CancelInFlightFiresOnceWithCancelled) {
  make();
  const CallId id = submit(request("emb-large"));
  loop_.runReady();
  balancer_->cancel(id);
  EXPECT_TRUE(results_.empty());
  loop_.runReady();
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_[0].failure().kind, CallErrorKind::kCancelled);
  EXPECT_EQ(http_.open(), 0u);
  EXPECT_EQ(balancer_->callsInFlight(), 0u);
}

TEST_F(BalancerEmbeddingsTest, ChatCallsStillUseAnthropicAlongsideEmbeddings) {
  make();
  ChatRequest chat;
  chat.model = "claude-x";  // only the Anthropic endpoint ("*") serves it
  chat.messages = {ChatMessage::text("user", "hi")};
  balancer_->submit(chat, [this](CallResult res) { results_.push_back(std::move(res)); });
  submit(request("emb-small"));
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  EXPECT_EQ(http_.request(0).url, "http://claude/v1/messages");
  EXPECT_EQ(http_.request(1).url, "http://oai/v1/embeddings");
}

}  // namespace
}  // namespace celeriac::balancer
