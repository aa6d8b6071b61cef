// A real Balancer on a real libuv loop (UvDispatcher + CurlTransport) against llm-stub
// processes on 127.0.0.1, with the stub's admin API injecting faults and counting what
// it received. The stub's counters are the judge: they see what actually went out.
// Short cooldowns keep every test within seconds; every wait is bounded.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "balancer/balancer.h"
#include "stub_server.h"
#include "test_loop.h"
#include "worker/http/curl_transport.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::testing::integration {
namespace {

using balancer::BalancerConfig;
using balancer::CallErrorKind;
using balancer::CallResult;
using balancer::ChatMessage;
using balancer::ChatRequest;
using balancer::EmbeddingRequest;
using balancer::TraceEntry;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// Key secrets are their env names: the stub's per-key stats are then keyed by alias.
std::optional<std::string> secretIsEnvName(const balancer::SecretRef& ref) { return ref.env; }

BalancerConfig stubConfig(const std::string& base_url, const std::vector<std::string>& keys) {
  BalancerConfig c;
  c.strategy = balancer::StrategyKind::kRoundRobin;
  c.timeout = seconds(10);
  c.retry_count = 2;
  c.max_attempts = 3;
  c.max_queue_wait = seconds(1);
  c.default_max_tokens = 16;
  c.breaker.consecutive_failures = 3;
  c.breaker.min_requests = 1000;  // only consecutive failures open it here
  c.breaker.cooldown = milliseconds(1000);
  c.breaker.max_cooldown = milliseconds(1000);
  c.breaker.ramp = milliseconds(1);
  c.backoff = {milliseconds(0), milliseconds(0)};
  c.retry_budget = {1.0, 1000, 10};
  balancer::EndpointConfig ep;
  ep.name = "stub";
  ep.base_url = base_url;
  ep.models = {"*"};
  ep.connect_timeout = seconds(1);
  ep.total_timeout = seconds(5);
  for (const auto& k : keys)
    ep.keys.push_back({k, balancer::SecretRef{k, "", std::nullopt}, "", std::nullopt});
  c.endpoints.push_back(std::move(ep));
  return c;
}

ChatRequest ask(const std::string& model) {
  ChatRequest r;
  r.model = model;
  r.messages.push_back(ChatMessage::text("user", "hello"));
  r.max_tokens = 16;
  return r;
}

bool skippedBecause(const CallResult& r, const std::string& model, const std::string& reason) {
  for (const TraceEntry& t : r.trace) {
    if (t.kind == TraceEntry::Kind::kSkipped && t.model == model && t.reason == reason) {
      return true;
    }
  }
  return false;
}

class BalancerStubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dispatcher_ = std::make_unique<worker::uv::UvDispatcher>(loop_.get());
    transport_ = std::make_unique<worker::http::CurlTransport>(*dispatcher_);
  }
  void TearDown() override {
    balancer_.reset();
    transport_.reset();
    dispatcher_.reset();
    EXPECT_EQ(loop_.close(), 0) << "a uv handle was left open";
  }
  void start(BalancerConfig config) {
    balancer_ =
        balancer::Balancer::create(std::move(config), *dispatcher_, *transport_, &secretIsEnvName)
            .value();
  }
  // One call (ChatRequest or EmbeddingRequest), run to completion (bounded).
  template <class Request>
  CallResult call(Request request, milliseconds timeout = seconds(10)) {
    std::optional<CallResult> out;
    balancer_->submit(std::move(request), [&](CallResult r) { out = std::move(r); });
    EXPECT_TRUE(loop_.runUntil([&] { return out.has_value(); }, timeout));
    if (out) return std::move(*out);
    CallResult none;
    none.outcome.emplace<balancer::CallFailure>().message = "no result before the deadline";
    return none;
  }
  static int received(nlohmann::json& stats, const char* group, const std::string& name) {
    const auto& g = stats[group];
    if (!g.contains(name)) return 0;
    return g[name].value("received", 0);
  }

  StubServer stub_;
  TestLoop loop_;
  std::unique_ptr<worker::uv::UvDispatcher> dispatcher_;
  std::unique_ptr<worker::http::CurlTransport> transport_;
  std::unique_ptr<balancer::Balancer> balancer_;
};

TEST_F(BalancerStubTest, ModelFailing503IsSkippedOnceItsBreakerOpensAndBackAfterCooldown) {
  BalancerConfig config = stubConfig(stub_.baseUrl(), {"key-a"});
  config.fallbacks["gpt-4o"] = {"gpt-4o-mini"};
  // With no backoff the first call retries gpt-4o until its breaker opens (3), then
  // falls back: 4 attempts.
  config.max_attempts = 5;
  start(std::move(config));
  stub_.armFault({{"model", "gpt-4o"}, {"fault", "status"}, {"status", 503}});

  // Until the breaker opens, calls fall back to gpt-4o-mini after a 503.
  std::optional<steady_clock::time_point> opened;
  for (int i = 0; i < 10; ++i) {
    const CallResult r = call(ask("gpt-4o"));
    ASSERT_TRUE(r.ok()) << (r.ok() ? "" : r.failure().message);
    EXPECT_EQ(r.success().model, "gpt-4o-mini");
    if (!opened && skippedBecause(r, "gpt-4o", "breaker_open")) opened = steady_clock::now();
  }
  ASSERT_TRUE(opened.has_value()) << "breaker never opened";
  auto stats = stub_.stats();
  EXPECT_EQ(received(stats, "models", "gpt-4o"), 3);  // consecutive_failures, then skipped
  EXPECT_EQ(received(stats, "models", "gpt-4o-mini"), 10);

  // The model recovers; the breaker lets a trial through only after the cooldown.
  stub_.clearFaults();
  bool back = false;
  std::function<void()> next = [&] {
    balancer_->submit(ask("gpt-4o"), [&](const CallResult& r) {
      if (r.ok() && r.success().model == "gpt-4o") {
        back = true;
      } else {
        dispatcher_->schedule(milliseconds(20), next);
      }
    });
  };
  next();
  ASSERT_TRUE(loop_.runUntil([&] { return back; }, seconds(5)));
  EXPECT_GE(steady_clock::now() - *opened, milliseconds(900));
  stats = stub_.stats();
  EXPECT_EQ(received(stats, "models", "gpt-4o"), 4);  // the single half-open trial
  const CallResult after = call(ask("gpt-4o"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after.success().model, "gpt-4o");
  EXPECT_FALSE(skippedBecause(after, "gpt-4o", "breaker_open"));
}

TEST_F(BalancerStubTest, RateLimitedKeyGetsNothingUntilRetryAfterWhileOtherKeysTakeTheLoad) {
  start(stubConfig(stub_.baseUrl(), {"key-a", "key-b"}));
  stub_.armFault({{"key", "key-a"}, {"fault", "rate_limit"}, {"retry_after_s", 1}, {"count", 1}});

  // A steady stream of calls, one every 10 ms, for 1.6 s.
  struct Done {
    steady_clock::time_point at;
    std::string key;
    bool ok;
    int attempts;
  };
  std::vector<Done> done;
  int submitted = 0;
  const auto start_at = steady_clock::now();
  std::function<void()> tick = [&] {
    if (steady_clock::now() - start_at > milliseconds(1600)) return;
    ++submitted;
    balancer_->submit(ask("gpt-4o"), [&](CallResult r) {
      done.push_back({steady_clock::now(), r.ok() ? r.success().key_alias : "", r.ok(),
                      r.ok() ? r.success().attempts : r.failure().attempts});
    });
    dispatcher_->schedule(milliseconds(10), tick);
  };
  tick();
  ASSERT_TRUE(loop_.runUntil(
      [&] {
        return steady_clock::now() - start_at > milliseconds(1600) &&
               done.size() == static_cast<std::size_t>(submitted);
      },
      seconds(10)));

  // The call that met the 429 went to key-b instead; nothing failed.
  for (const Done& d : done) EXPECT_TRUE(d.ok);
  std::optional<steady_clock::time_point> limited_at;
  for (const Done& d : done) {
    if (d.attempts == 2) {
      limited_at = d.at;
      EXPECT_EQ(d.key, "key-b");
      break;
    }
  }
  ASSERT_TRUE(limited_at.has_value()) << "no call met the injected 429";
  int a_paused = 0, b_paused = 0, a_after = 0;
  for (const Done& d : done) {
    if (d.at <= *limited_at) continue;
    if (d.at < *limited_at + milliseconds(900)) {
      (d.key == "key-a" ? a_paused : b_paused) += 1;
    } else if (d.at > *limited_at + milliseconds(1100) && d.key == "key-a") {
      ++a_after;
    }
  }
  EXPECT_EQ(a_paused, 0);
  EXPECT_GT(b_paused, 30);
  EXPECT_GT(a_after, 0);  // back in rotation once Retry-After passed
  auto stats = stub_.stats();
  EXPECT_EQ(stats["keys"]["key-a"]["received_during_retry_after"], 0);
  EXPECT_EQ(stats["keys"]["key-a"]["rate_limited"], 1);
}

TEST_F(BalancerStubTest, EveryModelDownFailsFastWithTheEarliestRetryTime) {
  BalancerConfig config = stubConfig(stub_.baseUrl(), {"key-a"});
  config.fallbacks["gpt-4o"] = {"gpt-4o-mini"};
  config.breaker.consecutive_failures = 1;
  config.breaker.cooldown = seconds(5);
  config.breaker.max_cooldown = seconds(5);
  config.max_attempts = 4;
  start(std::move(config));
  stub_.armFault({{"model", "*"}, {"fault", "status"}, {"status", 503}});

  const CallResult first = call(ask("gpt-4o"));  // opens both breakers
  ASSERT_FALSE(first.ok());
  auto stats = stub_.stats();
  const int sent = stats["totals"]["received"];
  EXPECT_EQ(sent, 2);

  const auto before = dispatcher_->now();
  const auto t0 = steady_clock::now();
  const CallResult r = call(ask("gpt-4o"));
  const auto took = steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, CallErrorKind::kAllUnavailable) << r.failure().message;
  EXPECT_LT(took, milliseconds(100));
  ASSERT_TRUE(r.failure().retry_at.has_value());
  EXPECT_GT(*r.failure().retry_at - before, seconds(4));
  EXPECT_LE(*r.failure().retry_at - before, milliseconds(5100));
  EXPECT_TRUE(r.failure().retry_at_wall.has_value());
  EXPECT_TRUE(skippedBecause(r, "gpt-4o", "breaker_open"));
  EXPECT_TRUE(skippedBecause(r, "gpt-4o-mini", "breaker_open"));
  stats = stub_.stats();
  EXPECT_EQ(stats["totals"]["received"], sent);  // nothing went out
}

TEST_F(BalancerStubTest, EmbeddingsRetryPastA503SkipAnthropicAndReturnVectorsInInputOrder) {
  BalancerConfig config = stubConfig(stub_.baseUrl(), {"key-a"});
  config.endpoints[0].limits["text-embedding-3-small"] = balancer::RateLimits{100, 10'000};
  config.pricing["text-embedding-3-small"] = {0.02, 0};
  // An Anthropic endpoint on the same stub, serving every model and listed first: an
  // embeddings call must skip it (Anthropic has no embeddings API) and never send to it.
  balancer::EndpointConfig claude = config.endpoints[0];
  claude.name = "claude";
  claude.provider = balancer::Provider::kAnthropic;
  claude.limits.clear();
  claude.keys = {{"key-c", balancer::SecretRef{"key-c", "", std::nullopt}, "", std::nullopt}};
  config.endpoints.insert(config.endpoints.begin(), std::move(claude));
  start(std::move(config));
  stub_.armFault(
      {{"model", "text-embedding-3-small"}, {"fault", "status"}, {"status", 503}, {"count", 1}});

  EmbeddingRequest request;
  request.model = "text-embedding-3-small";
  request.input = {"plastic bottle", "glass jar", "plastic bottle"};
  request.dimensions = 16;
  const CallResult r = call(request);
  ASSERT_TRUE(r.ok()) << r.failure().message;
  const balancer::CallSuccess& s = r.success();
  ASSERT_EQ(s.vectors.size(), 3u);
  for (const auto& v : s.vectors) {
    ASSERT_EQ(v.size(), 16u) << "dimensions reached the provider";
    double norm = 0;
    for (double x : v) norm += x * x;
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-4);
  }
  EXPECT_EQ(s.vectors[0], s.vectors[2]) << "the same text, the same vector, in input order";
  EXPECT_NE(s.vectors[0], s.vectors[1]);
  EXPECT_EQ(s.model, "text-embedding-3-small");
  EXPECT_EQ(s.provider_model, "text-embedding-3-small");
  EXPECT_EQ(s.endpoint, "stub");
  EXPECT_EQ(s.key_alias, "key-a");
  EXPECT_EQ(s.attempts, 2) << "the 503 was retried";
  EXPECT_GT(s.latency.count(), 0);
  ASSERT_TRUE(s.usage.has_value());
  EXPECT_GT(s.usage->input_tokens, 0);
  EXPECT_EQ(s.usage->output_tokens, 0);
  EXPECT_DOUBLE_EQ(s.cost_usd, static_cast<double>(s.usage->input_tokens) * 0.02 / 1e6);
  bool skipped_claude = false, overloaded = false;
  for (const TraceEntry& t : r.trace) {
    skipped_claude =
        skipped_claude || (t.kind == TraceEntry::Kind::kSkipped && t.endpoint == "claude" &&
                           t.reason == "embeddings_unsupported");
    overloaded = overloaded || (t.kind == TraceEntry::Kind::kAttempt && t.http_status == 503);
  }
  EXPECT_TRUE(skipped_claude);
  EXPECT_TRUE(overloaded);

  auto stats = stub_.stats();
  EXPECT_EQ(received(stats, "models", "text-embedding-3-small"), 2);
  EXPECT_EQ(received(stats, "keys", "key-c"), 0);
  const auto balancer_stats = balancer_->stats();
  EXPECT_EQ(balancer_stats["endpoints"][1]["models"][0]["tokens_in"], s.usage->input_tokens);
}

TEST_F(BalancerStubTest, KeyLimitedTo60RpmIsNeverSentMoreThan60InAnyMinute) {
  // The stub enforces the same limit, so any overshoot shows as a limiter 429.
  StubServer limited({"--rpm-limit", "60"});
  BalancerConfig config = stubConfig(limited.baseUrl(), {"key-a"});
  config.endpoints[0].limits["gpt-4o"] = balancer::RateLimits{60, 0};
  config.max_queue_wait = seconds(2);
  start(std::move(config));

  // 20 callers, each submitting again as soon as its call ends: far more than 60/min.
  const auto start_at = steady_clock::now();
  const auto run_for = seconds(12);
  int in_flight = 0;
  int ok = 0;
  int unavailable = 0;
  std::function<void()> caller = [&] {
    if (steady_clock::now() - start_at > run_for) return;
    ++in_flight;
    balancer_->submit(ask("gpt-4o"), [&](CallResult r) {
      --in_flight;
      if (r.ok()) {
        ++ok;
      } else {
        ++unavailable;
      }
      dispatcher_->schedule(milliseconds(5), caller);
    });
  };
  for (int i = 0; i < 20; ++i) caller();
  ASSERT_TRUE(loop_.runUntil(
      [&] { return steady_clock::now() - start_at > run_for && in_flight == 0; }, seconds(30)));

  auto stats = limited.stats();
  const auto& key = stats["keys"]["key-a"];
  EXPECT_LE(key["max_window_received"].get<int>(), 60) << key.dump();
  EXPECT_EQ(key["limiter_rejections"], 0) << key.dump();
  EXPECT_GE(ok, 60);
  EXPECT_GT(unavailable, 0);  // the offered load really exceeded the limit
  RecordProperty("calls_ok", ok);
  RecordProperty("calls_unavailable", unavailable);
}

}  // namespace
}  // namespace celeriac::testing::integration
