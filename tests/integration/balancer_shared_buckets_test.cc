// Two replicas sharing one key through Redis: two real Balancers on one libuv loop, each
// with its own CurlTransport and its own RedisSharedBucketStore (so two independent
// clients of the same redis-server), against one llm-stub that enforces 60 RPM per key
// and counts what it received. The stub is the judge: its max_window_received is the
// most requests the key got in any 60-second window.
//
// Why this proves the Redis path: provider headers only tighten the LOCAL request
// windows, which a shared key does not consult while the store answers (balancer.h), and
// the stub never says 429 here (limiter_rejections == 0), so nothing paused the key.
// Every request the stub received was a grant of the shared script (reserved counts).

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "balancer/balancer.h"
#include "redis_server.h"
#include "stub_server.h"
#include "test_loop.h"
#include "worker/http/curl_transport.h"
#include "worker/redis/redis_shared_bucket_store.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::testing::integration {
namespace {

using balancer::BalancerConfig;
using balancer::CallResult;
using balancer::ChatMessage;
using balancer::ChatRequest;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using worker::redis::RedisSharedBucketStore;
using worker::redis::RedisSharedBucketStoreOptions;

constexpr const char* kKey = "key-shared";
constexpr int kRpm = 60;

// Key secrets are their env names: the stub's per-key stats are then keyed by alias.
std::optional<std::string> secretIsEnvName(const balancer::SecretRef& ref) { return ref.env; }

BalancerConfig sharedConfig(const std::string& base_url) {
  BalancerConfig c;
  c.strategy = balancer::StrategyKind::kRoundRobin;
  c.timeout = seconds(10);
  c.retry_count = 0;
  c.max_attempts = 1;
  c.max_queue_wait = seconds(1);  // a refusal for ~a minute fails the call at once
  c.default_max_tokens = 16;
  c.breaker.consecutive_failures = 1000;
  c.breaker.min_requests = 100000;
  c.backoff = {milliseconds(0), milliseconds(0)};
  balancer::EndpointConfig ep;
  ep.name = "stub";
  ep.base_url = base_url;
  ep.models = {"*"};
  ep.connect_timeout = seconds(1);
  ep.total_timeout = seconds(5);
  ep.shared = true;
  ep.replicas = 2;
  // Limits per model (gpt-4o-mini: a second model with windows of its own).
  ep.limits["gpt-4o"] = balancer::RateLimits{kRpm, 0};
  ep.limits["gpt-4o-mini"] = balancer::RateLimits{kRpm, 0};
  ep.keys.push_back({kKey, balancer::SecretRef{kKey, "", std::nullopt}, "", std::nullopt});
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

// One replica: its own HTTP client, Redis client and Balancer, on the shared loop.
struct Replica {
  Replica(worker::uv::UvDispatcher& dispatcher, int redis_port, const std::string& base_url) {
    transport = std::make_unique<worker::http::CurlTransport>(dispatcher);
    worker::redis::RedisUrl url;
    url.port = redis_port;
    RedisSharedBucketStoreOptions options;
    options.backoff_min = milliseconds(50);
    options.backoff_max = milliseconds(200);
    store = std::make_unique<RedisSharedBucketStore>(dispatcher, url, options);
    store->start();
    balancer = balancer::Balancer::create(sharedConfig(base_url), dispatcher, *transport,
                                          &secretIsEnvName, 0x5eed, store.get())
                   .value();
  }
  // Balancer first: it borrows the store and the transport.
  ~Replica() {
    balancer.reset();
    store.reset();
    transport.reset();
  }
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  [[nodiscard]] nlohmann::json shared() { return balancer->stats()["shared_buckets"]; }

  std::unique_ptr<worker::http::CurlTransport> transport;
  std::unique_ptr<RedisSharedBucketStore> store;
  std::unique_ptr<balancer::Balancer> balancer;
  int ok = 0;
  int failed = 0;
  int in_flight = 0;
};

class BalancerSharedBucketsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dispatcher_ = std::make_unique<worker::uv::UvDispatcher>(loop_.get());
    for (int i = 0; i < 2; ++i) {
      replicas_.push_back(std::make_unique<Replica>(*dispatcher_, redis_.port(), stub_.baseUrl()));
    }
  }
  void TearDown() override {
    replicas_.clear();
    dispatcher_.reset();
    EXPECT_EQ(loop_.close(), 0) << "a uv handle was left open";
  }

  // `callers` loops per replica, each submitting again 20 ms after its call ends, for
  // `run_for`; returns once every call has ended (bounded).
  void offerLoad(const std::string& model, int callers, milliseconds run_for,
                 std::vector<Replica*> only = {}) {
    if (only.empty()) {
      for (auto& r : replicas_) only.push_back(r.get());
    }
    for (auto& r : replicas_) r->ok = r->failed = 0;
    const auto start_at = steady_clock::now();
    // Held here, weakly by the timers: a timer of this load that fires during a later
    // loop run (the next offerLoad) finds it gone instead of a dangling reference.
    auto caller = std::make_shared<std::function<void(Replica*)>>();
    *caller = [this, model, start_at, run_for,
               weak = std::weak_ptr<std::function<void(Replica*)>>(caller)](Replica* r) {
      if (steady_clock::now() - start_at > run_for) return;
      ++r->in_flight;
      r->balancer->submit(ask(model), [this, r, weak](CallResult result) {
        --r->in_flight;
        ++(result.ok() ? r->ok : r->failed);
        dispatcher_->schedule(milliseconds(20), [r, weak] {
          if (auto next = weak.lock()) (*next)(r);
        });
      });
    };
    for (int i = 0; i < callers; ++i) {
      for (Replica* r : only) (*caller)(r);
    }
    ASSERT_TRUE(loop_.runUntil(
        [&] {
          if (steady_clock::now() - start_at <= run_for) return false;
          for (auto& r : replicas_) {
            if (r->in_flight != 0) return false;
          }
          return true;
        },
        run_for + seconds(20)));
  }

  RedisServer redis_;
  StubServer stub_{{"--rpm-limit", std::to_string(kRpm)}};
  TestLoop loop_;
  std::unique_ptr<worker::uv::UvDispatcher> dispatcher_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

TEST_F(BalancerSharedBucketsTest, TwoReplicasSharingRedisStayWithinOneKeysLimitTogether) {
  Replica& a = *replicas_[0];
  Replica& b = *replicas_[1];
  ASSERT_TRUE(
      loop_.runUntil([&] { return a.store->available() && b.store->available(); }, seconds(5)));

  // Phase 1: far more than 60 requests offered across both for 12 s. A token bucket
  // (full at start, refilling 1/s) would have let ~72 through; the window lets 60.
  offerLoad("gpt-4o", 8, seconds(12));
  nlohmann::json stats = stub_.stats();
  const nlohmann::json key = stats["keys"][kKey];
  EXPECT_LE(key["max_window_received"].get<int>(), kRpm) << key.dump();
  EXPECT_EQ(key["limiter_rejections"], 0) << key.dump();
  const nlohmann::json shared_a = a.shared();
  const nlohmann::json shared_b = b.shared();
  for (const nlohmann::json* s : {&shared_a, &shared_b}) {
    EXPECT_EQ((*s)["fallback"], false) << s->dump();
    EXPECT_EQ((*s)["fallbacks"], 0) << s->dump() << " (Redis was up all along)";
    EXPECT_GT((*s)["reserved"].get<int>(), 0) << "both replicas got grants: " << s->dump();
    EXPECT_GT((*s)["refused"].get<int>(), 0) << "Redis said no to both: " << s->dump();
  }
  // Every request the stub received was a grant of the shared script, and the key's
  // whole minute was used: exactly the limit, split between the replicas.
  const int reserved = shared_a["reserved"].get<int>() + shared_b["reserved"].get<int>();
  EXPECT_EQ(reserved, key["received"].get<int>()) << key.dump();
  EXPECT_EQ(reserved, kRpm);
  EXPECT_EQ(a.ok + b.ok, kRpm);
  EXPECT_GT(a.failed + b.failed, 10 * kRpm) << "the offered load really exceeded the limit";
  RecordProperty("replica_a_reserved", shared_a["reserved"].get<int>());
  RecordProperty("replica_b_reserved", shared_b["reserved"].get<int>());
}

// The minute around a Redis outage. Replica A takes the key's whole minute from
// the store; Redis stops; both replicas are offered load; Redis starts again; both are
// offered load. The stub, which counts what the key really received, must never see
// more than the limit in any 60-second window. Before the fallback hold, B (no grants of
// its own) sent its share (30) on top of A's 60 as soon as Redis was gone.
TEST_F(BalancerSharedBucketsTest, NoOvershootInTheMinuteAroundARedisStopAndStart) {
  Replica& a = *replicas_[0];
  Replica& b = *replicas_[1];
  ASSERT_TRUE(
      loop_.runUntil([&] { return a.store->available() && b.store->available(); }, seconds(5)));
  offerLoad("gpt-4o", 8, seconds(3), {&a});
  ASSERT_EQ(a.ok, kRpm) << "A took the whole minute";
  redis_.stop();
  offerLoad("gpt-4o", 8, seconds(5));
  EXPECT_EQ(a.ok + b.ok, 0) << "within the minute of A's grants, nothing more goes out";
  EXPECT_EQ(b.shared()["fallback"], true) << b.shared().dump();
  redis_.start();
  ASSERT_TRUE(
      loop_.runUntil([&] { return a.store->available() && b.store->available(); }, seconds(10)));
  offerLoad("gpt-4o", 8, seconds(5));
  const nlohmann::json key = stub_.stats()["keys"][kKey];
  EXPECT_LE(key["max_window_received"].get<int>(), kRpm) << key.dump();
  EXPECT_EQ(key["received"].get<int>(), kRpm) << key.dump();
  EXPECT_EQ(key["limiter_rejections"], 0) << key.dump();
}

}  // namespace
}  // namespace celeriac::testing::integration
