// Routing by request context (seed 3): context window, price and latency constraints.
#include <gtest/gtest.h>

#include "balancer_fixture.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;

// A route over three models: small is cheap with a small window and slow, big is dear.
constexpr const char* kThreeModels = R"(
endpoints:
  - {name: small, url: "http://small/v1", models: [small], max_tokens: 1000}
  - {name: mid, url: "http://mid/v1", models: [mid], max_tokens: 1000}
  - {name: big, url: "http://big/v1", models: [big], max_tokens: 1000}
routes:
  general: {normal: [small, mid, big]}
pricing:
  small: {input: 0.4, output: 1.6}
  mid: {input: 2, output: 8}
  big: {input: 8, output: 32}
capabilities:
  small: {context_window: 4000, typical_latency: 3}
  mid: {context_window: 128000, typical_latency: 0.8}
  big: {context_window: 1000000}
)";

class BalancerRoutingTest : public BalancerTest {
 protected:
  ChatRequest request(std::int64_t prompt_tokens) {
    ChatRequest r;
    r.task_type = "general";
    r.priority = "normal";
    r.messages = {ChatMessage::text("user", "hello")};
    r.estimated_prompt_tokens = prompt_tokens;
    return r;
  }
  // Answers request `i` with a 200 from `model` and expects the call to succeed.
  void answerOk(std::size_t i, const std::string& model) {
    http_.reply(i, 200, okBody("ok", model));
    loop_.runReady();
    ASSERT_FALSE(results_.empty());
    ASSERT_TRUE(results_.back().ok());
  }
  std::string sentTo(std::size_t i) const {
    const std::string& url = http_.request(i).url;
    return url.substr(7, url.find('/', 7) - 7);
  }
};

TEST_F(BalancerRoutingTest, AModelWhoseContextWindowIsTooSmallIsNeverTried) {
  make(kThreeModels);
  submit(request(3500));  // 3500 + max_tokens 1000 > small's 4000
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  EXPECT_EQ(sentTo(0), "mid");
  answerOk(0, "mid");
  EXPECT_TRUE(traceHas(results_[0], TraceEntry::Kind::kSkipped, "context_too_small"));

  submit(request(100));  // fits: the route's first model again
  loop_.runReady();
  EXPECT_EQ(sentTo(1), "small");
}

// The window check depends on the endpoint's max_tokens: a model one endpoint cannot
// fit is still served by another that can, never refused as a caller error.
TEST_F(BalancerRoutingTest, AModelIsRuledOutOnlyWhenNoEndpointServingItFits) {
  make(R"(
endpoints:
  - {name: wide, url: "http://wide/v1", models: [small], max_tokens: 3900}
  - {name: narrow, url: "http://narrow/v1", models: [small], max_tokens: 100}
capabilities:
  small: {context_window: 4000}
)");
  ChatRequest r;
  r.model = "small";
  r.messages = {ChatMessage::text("user", "hello")};
  r.estimated_prompt_tokens = 500;  // + 3900 > 4000 on wide; + 100 fits on narrow
  submit(r);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  EXPECT_EQ(sentTo(0), "narrow");
}

TEST_F(BalancerRoutingTest, AModelOverTheCostCapIsNeverTriedEvenWhenTheCheapOnesFail) {
  make(kThreeModels);
  ChatRequest r = request(100);
  r.constraints.max_cost_per_1k = 0.004;  // mid costs (3*2+8)/4/1000 = 0.0035, big 0.014
  submit(r);
  loop_.runReady();
  // Every attempt fails, over backoffs, until the attempt cap ends the call.
  for (std::size_t answered = 0; results_.empty() && answered < 20;) {
    while (answered < http_.count()) http_.reply(answered++, 503, "");
    loop_.runReady();
    loop_.advance(1s);
  }
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_FALSE(results_[0].ok());
  ASSERT_GE(http_.count(), 2u);
  for (std::size_t i = 0; i < http_.count(); ++i) EXPECT_NE(sentTo(i), "big") << "over the cap";
}

TEST_F(BalancerRoutingTest, ARouteLeadingWithADearModelSkipsItWithItsReason) {
  std::string yaml = kThreeModels;
  const std::string general = "  general: {normal: [small, mid, big]}\n";
  yaml.replace(yaml.find(general), general.size(), general + "  premium: {normal: [big, mid]}\n");
  make(yaml);
  ChatRequest r = request(100);
  r.task_type = "premium";
  r.constraints.max_cost_per_1k = 0.004;
  submit(r);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u);
  EXPECT_EQ(sentTo(0), "mid");
  answerOk(0, "mid");
  EXPECT_TRUE(traceHas(results_[0], TraceEntry::Kind::kSkipped, "over_cost_limit"));
}

TEST_F(BalancerRoutingTest, AChainThatNoModelCanMeetFailsAtOnceAsACallerError) {
  make(kThreeModels);
  ChatRequest r = request(5000);          // small's window is too small
  r.constraints.max_cost_per_1k = 0.001;  // mid and big are too dear
  submit(r);
  loop_.runReady();
  EXPECT_EQ(http_.count(), 0u);
  ASSERT_EQ(results_.size(), 1u);
  const CallFailure& f = results_[0].failure();
  EXPECT_EQ(f.kind, CallErrorKind::kCallerError) << "never parked: waiting cannot help";
  EXPECT_EQ(f.message,
            "no model of the chain meets the request's constraints: small (context_too_small), "
            "mid (over_cost_limit), big (over_cost_limit)");
}

TEST_F(BalancerRoutingTest, ASlowModelIsPassedOverForAFastOneAndUsedWhenNothingFasterCan) {
  make(kThreeModels);
  ChatRequest r = request(100);
  r.constraints.max_latency = 1s;  // small typically takes 3 s, mid 0.8 s
  submit(r);
  loop_.runReady();
  EXPECT_EQ(sentTo(0), "mid");
  answerOk(0, "mid");
  EXPECT_TRUE(traceHas(results_[0], TraceEntry::Kind::kSkipped, "over_latency_limit"));

  // Observed latency replaces the table's guess: mid now answers in 2 s, so nothing of
  // the route is fast enough (big has no typical latency and no sample: not judged).
  submit(r);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  EXPECT_EQ(sentTo(1), "mid");
  loop_.advance(2s);
  http_.reply(1, 200, okBody("ok", "mid"));
  loop_.runReady();
  submit(r);
  loop_.runReady();
  EXPECT_EQ(sentTo(2), "big") << "the only candidate not known to be slow";
}

TEST_F(BalancerRoutingTest, WithOnlySlowCandidatesTheSlowOneStillServes) {
  make(R"(
endpoints:
  - {name: small, url: "http://small/v1", models: [small]}
capabilities:
  small: {typical_latency: 3}
)");
  ChatRequest r;
  r.model = "small";
  r.messages = {ChatMessage::text("user", "hello")};
  r.constraints.max_latency = 1s;
  submit(r);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 1u) << "a slow answer beats none";
  http_.reply(0, 200, okBody("ok", "small"));
  loop_.runReady();
  EXPECT_TRUE(results_.at(0).ok());
}

TEST(BalancerRoutingConfigTest, CapabilityErrorsNameTheField) {
  const auto zero = ConfigLoader::fromYaml(
      "endpoints: [{url: 'http://a'}]\ncapabilities: {m: {context_window: 0}}");
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().message, "capabilities.m.context_window: must be at least 1");
  const auto unknown =
      ConfigLoader::fromYaml("endpoints: [{url: 'http://a'}]\ncapabilities: {m: {latency: 1}}");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("capabilities.m"), std::string::npos)
      << unknown.error().message;
}

}  // namespace
}  // namespace celeriac::balancer
