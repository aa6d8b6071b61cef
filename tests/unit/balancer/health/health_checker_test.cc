#include "health/health_checker.h"

#include <gtest/gtest.h>

#include "balancer/balancer.h"
#include "balancer/config_loader.h"
#include "fake_loop.h"

namespace celeriac::balancer {
namespace {

using namespace std::chrono_literals;
using celeriac::testing::FakeDispatcher;
using celeriac::testing::FakeTransport;

class HealthCheckerTest : public ::testing::Test {
 protected:
  void make() {
    HealthCheckConfig cfg;
    cfg.enabled = true;
    cfg.interval = 10s;
    cfg.timeout = 30s;  // capped at the interval
    cfg.unhealthy_after = 2;
    cfg.healthy_after = 2;
    HttpRequest a, b;
    a.method = b.method = "GET";
    a.url = "http://a/v1/models";
    b.url = "http://b/v1/models";
    checker_ = std::make_unique<HealthChecker>(cfg, loop_, http_, std::vector<HttpRequest>{a, b});
    checker_->start();
  }
  // Answers the latest probe of `url`.
  void answer(const std::string& url, int status) {
    for (std::size_t i = http_.count(); i-- > 0;) {
      if (http_.request(i).url == url) {
        http_.reply(i, status, "{}");
        loop_.runReady();
        return;
      }
    }
    FAIL() << "no probe to " << url;
  }

  FakeDispatcher loop_;
  FakeTransport http_{loop_};
  std::unique_ptr<HealthChecker> checker_;
};

TEST_F(HealthCheckerTest, ProbesEveryEndpointEachIntervalNotInsideStart) {
  make();
  EXPECT_EQ(http_.count(), 0u);
  loop_.runReady();
  ASSERT_EQ(http_.count(), 2u);
  EXPECT_EQ(http_.request(0).method, "GET");
  EXPECT_EQ(http_.request(0).url, "http://a/v1/models");
  EXPECT_EQ(http_.request(0).total_timeout, 10s);
  answer("http://a/v1/models", 200);
  answer("http://b/v1/models", 200);
  loop_.advance(9999ms);
  EXPECT_EQ(http_.count(), 2u);
  loop_.advance(1ms);
  EXPECT_EQ(http_.count(), 4u);
}

TEST_F(HealthCheckerTest, UnhealthyAfterNFailuresAndBackAfterMSuccesses) {
  make();
  loop_.runReady();
  EXPECT_TRUE(checker_->healthy(0)) << "endpoints start healthy";
  answer("http://a/v1/models", 503);
  EXPECT_TRUE(checker_->healthy(0));
  loop_.advance(10s);
  http_.fail(2, TransportError::kConnectFailed);
  loop_.runReady();
  EXPECT_FALSE(checker_->healthy(0));
  EXPECT_TRUE(checker_->healthy(1)) << "b never answered: no verdict yet";
  loop_.advance(10s);
  answer("http://a/v1/models", 200);
  EXPECT_FALSE(checker_->healthy(0));
  loop_.advance(10s);
  answer("http://a/v1/models", 200);
  EXPECT_TRUE(checker_->healthy(0));
  EXPECT_EQ(checker_->stats(0)["probe_failures"], 2);
}

TEST_F(HealthCheckerTest, ClientErrorsStillProveTheServerIsUp) {
  make();
  for (int round = 0; round < 3; ++round) {
    loop_.runReady();
    answer("http://a/v1/models", round == 0 ? 401 : 404);
    loop_.advance(10s);
  }
  EXPECT_TRUE(checker_->healthy(0));
}

TEST_F(HealthCheckerTest, AProbeStillOutIsNotDoubled) {
  make();
  loop_.runReady();
  answer("http://b/v1/models", 200);
  loop_.advance(10s);
  EXPECT_EQ(http_.count(), 3u) << "only b is probed again";
}

TEST_F(HealthCheckerTest, DestructionCancelsTimerAndProbes) {
  make();
  loop_.runReady();
  checker_.reset();
  loop_.runReady();
  EXPECT_EQ(http_.open(), 0u);
  EXPECT_EQ(loop_.pendingTimers(), 0u);
}

TEST(BalancerHealthTest, UnhealthyEndpointIsSkippedWithReason) {
  FakeDispatcher loop;
  FakeTransport http{loop};
  auto balancer =
      Balancer::create(ConfigLoader::fromYaml(R"(
health_check: {enabled: true, interval: 5, path: /models, unhealthy_after: 1}
endpoints:
  - {name: e1, url: "http://e1/v1", models: [m], api_key_env: KEY_A, weight: 100}
  - {name: e2, url: "http://e2/v1", models: [m]}
)")
                           .value(),
                       loop, http, ConfigLoader::secretResolver({{"KEY_A", "sk-a"}}, nullptr))
          .value();
  loop.runReady();
  ASSERT_EQ(http.count(), 2u);
  EXPECT_EQ(http.request(0).url, "http://e1/v1/models");
  bool has_auth = false;
  for (const auto& h : http.request(0).headers) has_auth = has_auth || h.value == "Bearer sk-a";
  EXPECT_TRUE(has_auth) << "the probe authenticates like a call";
  http.reply(0, 500, "");
  http.reply(1, 200, "{}");
  loop.runReady();
  std::vector<CallResult> results;
  ChatRequest r;
  r.model = "m";
  r.messages = {ChatMessage::text("user", "hello")};
  balancer->submit(r, [&](CallResult res) { results.push_back(std::move(res)); });
  loop.runReady();
  ASSERT_EQ(http.count(), 3u);
  EXPECT_EQ(http.request(2).url, "http://e2/v1/chat/completions");
  http.reply(2, 200, R"({"choices":[{"message":{"content":"ok"}}]})");
  loop.runReady();
  ASSERT_TRUE(results.at(0).ok());
  bool skipped = false;
  for (const auto& t : results[0].trace) {
    skipped = skipped || (t.reason == "unhealthy" && t.endpoint == "e1");
  }
  EXPECT_TRUE(skipped);
  const auto stats = balancer->stats();
  EXPECT_EQ(stats["endpoints"][0]["healthy"], false);
  EXPECT_EQ(stats["endpoints"][0]["probe"]["probe_failures"], 1);
}

}  // namespace
}  // namespace celeriac::balancer
