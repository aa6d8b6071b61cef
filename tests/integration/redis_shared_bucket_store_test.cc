// RedisSharedBucketStore against a throwaway redis-server on 127.0.0.1: the real
// kSharedBucketScript, on a real loop. Bucket capacities are per minute, so the few
// milliseconds a test takes refill a negligible fraction of a token.

#include "worker/redis/redis_shared_bucket_store.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redis_server.h"
#include "test_loop.h"
#include "test_ports.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::testing::integration {
namespace {

using balancer::SharedBucketSpec;
using balancer::SharedReserveResult;
using Status = balancer::SharedReserveResult::Status;
using std::chrono::milliseconds;
using std::chrono::seconds;
using worker::redis::RedisSharedBucketStore;
using worker::redis::RedisSharedBucketStoreOptions;

class RedisSharedBucketStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dispatcher_ = std::make_unique<worker::uv::UvDispatcher>(loop_.get()); }
  void TearDown() override {
    stores_.clear();
    dispatcher_.reset();
    EXPECT_EQ(loop_.close(), 0) << "a uv handle was left open";
  }

  RedisSharedBucketStore& makeStore(int port, RedisSharedBucketStoreOptions options = {}) {
    worker::redis::RedisUrl url;
    url.port = port;
    RedisSharedBucketStore::Callbacks callbacks;
    callbacks.on_unavailable = [this](const std::string& reason) {
      ++unavailable_events_;
      last_reason_ = reason;
    };
    stores_.push_back(
        std::make_unique<RedisSharedBucketStore>(*dispatcher_, url, options, std::move(callbacks)));
    stores_.back()->start();
    return *stores_.back();
  }
  bool waitAvailable(RedisSharedBucketStore& store) {
    return loop_.runUntil([&] { return store.available(); }, seconds(5));
  }

  SharedReserveResult reserve(RedisSharedBucketStore& store, std::vector<SharedBucketSpec> b) {
    return run(store, std::move(b), false);
  }
  SharedReserveResult adjust(RedisSharedBucketStore& store, std::vector<SharedBucketSpec> b) {
    return run(store, std::move(b), true);
  }
  SharedReserveResult run(RedisSharedBucketStore& store, std::vector<SharedBucketSpec> buckets,
                          bool is_adjust) {
    std::optional<SharedReserveResult> out;
    bool inside = true;
    auto done = [&](SharedReserveResult r) {
      EXPECT_FALSE(inside) << "callback fired inside the call";
      out = r;
    };
    if (is_adjust) {
      store.adjust(std::move(buckets), done);
    } else {
      store.reserve(std::move(buckets), done);
    }
    inside = false;
    EXPECT_TRUE(loop_.runUntil([&] { return out.has_value(); }, seconds(5)));
    return out.value_or(SharedReserveResult{});
  }

  // Token buckets (per minute): ":rpm" here is only a name, the Balancer counts
  // requests in a window (":rpmw").
  static SharedBucketSpec bucket(const std::string& key, double capacity, double amount) {
    SharedBucketSpec spec;
    spec.key = key;
    spec.capacity = capacity;
    spec.amount = amount;
    return spec;
  }
  static SharedBucketSpec rpm(const std::string& alias, double capacity, double amount) {
    return bucket(balancer::sharedBucketTag(alias, "gpt-4o") + ":rpm", capacity, amount);
  }
  static SharedBucketSpec tpm(const std::string& alias, double capacity, double amount) {
    return bucket(balancer::sharedBucketTag(alias, "gpt-4o") + ":tpm", capacity, amount);
  }
  static std::string windowKey(const std::string& alias) {
    return balancer::sharedBucketTag(alias, "gpt-4o") + ":rpmw";
  }
  static SharedBucketSpec window(const std::string& alias, double capacity, double amount,
                                 milliseconds period = seconds(60), std::string grant = {}) {
    SharedBucketSpec spec = bucket(windowKey(alias), capacity, amount);
    spec.kind = SharedBucketSpec::Kind::kSlidingWindow;
    spec.period = period;
    spec.grant = std::move(grant);
    return spec;
  }

  // A blocking side connection to look at what the script stored (loop not running).
  std::unique_ptr<redisContext, void (*)(redisContext*)> inspect() {
    return {redisConnect("127.0.0.1", redis_.port()), &redisFree};
  }
  long long integerCommand(redisContext* c, const std::string& cmd, const std::string& key) {
    auto* reply =
        static_cast<redisReply*>(redisCommand(c, "%s %b", cmd.c_str(), key.data(), key.size()));
    const long long value =
        reply != nullptr && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -99;
    freeReplyObject(reply);
    return value;
  }
  std::vector<std::string> members(redisContext* c, const std::string& key) {
    std::vector<std::string> out;
    auto* reply =
        static_cast<redisReply*>(redisCommand(c, "ZRANGE %b 0 -1", key.data(), key.size()));
    if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY) {
      for (std::size_t i = 0; i < reply->elements; ++i) {
        out.emplace_back(reply->element[i]->str, reply->element[i]->len);
      }
    }
    freeReplyObject(reply);
    return out;
  }

  RedisServer redis_;
  TestLoop loop_;
  std::unique_ptr<worker::uv::UvDispatcher> dispatcher_;
  std::vector<std::unique_ptr<RedisSharedBucketStore>> stores_;
  int unavailable_events_ = 0;
  std::string last_reason_;
};

TEST_F(RedisSharedBucketStoreTest, ReservesEveryBucketOrNone) {
  auto& store = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(store));
  EXPECT_EQ(reserve(store, {rpm("k", 10, 1), tpm("k", 100, 60)}).status, Status::kReserved);
  // TPM holds 40 now: the pair is refused, with the time until 60 would fit (~12 s).
  const SharedReserveResult refused = reserve(store, {rpm("k", 10, 1), tpm("k", 100, 60)});
  EXPECT_EQ(refused.status, Status::kRefused);
  EXPECT_GT(refused.retry_after, seconds(10));
  EXPECT_LE(refused.retry_after, seconds(13));
  // The refusal took nothing from the RPM bucket: all 9 remaining requests are there.
  EXPECT_EQ(reserve(store, {rpm("k", 10, 9)}).status, Status::kReserved);
  EXPECT_EQ(reserve(store, {rpm("k", 10, 1)}).status, Status::kRefused);
}

TEST_F(RedisSharedBucketStoreTest, RefundThroughAdjustGivesTokensBack) {
  auto& store = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(store));
  EXPECT_EQ(reserve(store, {tpm("k", 500, 500)}).status, Status::kReserved);
  EXPECT_EQ(reserve(store, {tpm("k", 500, 100)}).status, Status::kRefused);
  EXPECT_EQ(adjust(store, {tpm("k", 500, -200)}).status, Status::kReserved);  // applied
  EXPECT_EQ(reserve(store, {tpm("k", 500, 190)}).status, Status::kReserved);
  EXPECT_EQ(reserve(store, {tpm("k", 500, 100)}).status, Status::kRefused);
  // A debt (positive adjust) is charged even past empty.
  EXPECT_EQ(adjust(store, {tpm("k", 500, 300)}).status, Status::kReserved);
  const SharedReserveResult in_debt = reserve(store, {tpm("k", 500, 1)});
  EXPECT_EQ(in_debt.status, Status::kRefused);
  EXPECT_GT(in_debt.retry_after, seconds(30));  // ~290 tokens of debt at 500/min
}

TEST_F(RedisSharedBucketStoreTest, TwoStoresSharingAKeyStayWithinOneLimit) {
  auto& a = makeStore(redis_.port());
  auto& b = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(a));
  ASSERT_TRUE(waitAvailable(b));
  // Both fire all their requests at once, interleaved on two connections.
  int reserved = 0, refused = 0, answered = 0;
  for (int i = 0; i < 30; ++i) {
    for (RedisSharedBucketStore* s : {&a, &b}) {
      s->reserve({rpm("shared", 20, 1), tpm("shared", 10'000, 50)}, [&](SharedReserveResult r) {
        ++answered;
        if (r.status == Status::kReserved) ++reserved;
        if (r.status == Status::kRefused) ++refused;
      });
    }
  }
  ASSERT_TRUE(loop_.runUntil([&] { return answered == 60; }, seconds(5)));
  EXPECT_EQ(reserved, 20);
  EXPECT_EQ(refused, 40);
}

TEST_F(RedisSharedBucketStoreTest, WindowAdmitsCapacityThenWaitsForTheOldestToLeave) {
  auto& store = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(store));
  for (int i = 0; i < 3; ++i) {
    const SharedReserveResult r = reserve(store, {window("w", 3, 1)});
    EXPECT_EQ(r.status, Status::kReserved);
    EXPECT_FALSE(r.grant.empty()) << "a window grant is named for its refund";
  }
  const SharedReserveResult refused = reserve(store, {window("w", 3, 1)});
  EXPECT_EQ(refused.status, Status::kRefused);
  EXPECT_GT(refused.retry_after, seconds(58)) << "until the oldest is a minute old";
  EXPECT_LE(refused.retry_after, seconds(60));
  auto c = inspect();
  ASSERT_TRUE(c && c->err == 0);
  EXPECT_EQ(integerCommand(c.get(), "ZCARD", windowKey("w")), 3) << "a refusal adds nothing";
  const long long ttl_ms = integerCommand(c.get(), "PTTL", windowKey("w"));
  EXPECT_GT(ttl_ms, 0) << "an idle window vanishes";
  EXPECT_LE(ttl_ms, 60'000);
}

// One replica's 429 (an adjust of the pause) holds every replica's reserves on that key
// until it ends, on the server's clock; a shorter, later pause never shortens it.
TEST_F(RedisSharedBucketStoreTest, APauseHoldsEveryStoresReservesUntilItEnds) {
  auto& a = makeStore(redis_.port());
  auto& b = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(a));
  ASSERT_TRUE(waitAvailable(b));
  auto pause = [](double ms) {
    SharedBucketSpec spec = bucket(balancer::sharedBucketTag("p", "gpt-4o") + ":pause", 0, ms);
    spec.kind = SharedBucketSpec::Kind::kPause;
    return spec;
  };
  EXPECT_EQ(reserve(b, {window("p", 10, 1), pause(0)}).status, Status::kReserved);
  EXPECT_EQ(adjust(a, {pause(800)}).status, Status::kReserved);
  EXPECT_EQ(adjust(a, {pause(100)}).status, Status::kReserved);  // cannot shorten it
  const SharedReserveResult held = reserve(b, {window("p", 10, 1), pause(0)});
  EXPECT_EQ(held.status, Status::kRefused);
  EXPECT_GT(held.retry_after, milliseconds(500));
  EXPECT_LE(held.retry_after, milliseconds(800));
  auto c = inspect();
  ASSERT_TRUE(c && c->err == 0);
  EXPECT_EQ(integerCommand(c.get(), "ZCARD", windowKey("p")), 1) << "the refusal took nothing";
  loop_.runFor(held.retry_after + milliseconds(50));
  EXPECT_EQ(reserve(b, {window("p", 10, 1), pause(0)}).status, Status::kReserved);
}

TEST_F(RedisSharedBucketStoreTest, WindowNeverRefillsMidPeriodUnlikeABucket) {
  auto& store = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(store));
  const milliseconds period(600);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(reserve(store, {window("w", 4, 1, period)}).status, Status::kReserved);
  }
  // Half a period later a bucket of 4 per 600 ms would hold 2 again; the window holds 0.
  loop_.runFor(milliseconds(300));
  const SharedReserveResult refused = reserve(store, {window("w", 4, 1, period)});
  ASSERT_EQ(refused.status, Status::kRefused);
  EXPECT_LE(refused.retry_after, milliseconds(300));
  // Once the first period has passed, all four slots are back.
  loop_.runFor(refused.retry_after + milliseconds(50));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(reserve(store, {window("w", 4, 1, period)}).status, Status::kReserved) << i;
  }
  EXPECT_EQ(reserve(store, {window("w", 4, 1, period)}).status, Status::kRefused);
}

TEST_F(RedisSharedBucketStoreTest, RefundWithTheGrantRemovesExactlyThatEntry) {
  auto& store = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(store));
  const SharedReserveResult first = reserve(store, {window("w", 2, 1)});
  const SharedReserveResult second = reserve(store, {window("w", 2, 1)});
  ASSERT_EQ(first.status, Status::kReserved);
  ASSERT_EQ(second.status, Status::kReserved);
  ASSERT_NE(first.grant, second.grant);
  EXPECT_EQ(reserve(store, {window("w", 2, 1)}).status, Status::kRefused);
  // The OLDER grant is handed back: its entry goes, the newer one stays.
  EXPECT_EQ(adjust(store, {window("w", 2, -1, seconds(60), first.grant)}).status,
            Status::kReserved);
  auto c = inspect();
  ASSERT_TRUE(c && c->err == 0);
  EXPECT_EQ(members(c.get(), windowKey("w")), std::vector<std::string>{second.grant + "/1"});
  EXPECT_EQ(reserve(store, {window("w", 2, 1)}).status, Status::kReserved);
  EXPECT_EQ(reserve(store, {window("w", 2, 1)}).status, Status::kRefused);
  // Without a grant a refund pops the newest entry.
  EXPECT_EQ(adjust(store, {window("w", 2, -1)}).status, Status::kReserved);
  EXPECT_EQ(members(c.get(), windowKey("w")), std::vector<std::string>{second.grant + "/1"});
}

// How a replica writes the sends it made on its local share (Redis away) into the
// window once Redis is back: an unconditional adjust adding entries, even past capacity.
TEST_F(RedisSharedBucketStoreTest, AdjustAddsWindowEntriesUnconditionallyForSendsMadeElsewhere) {
  auto& store = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(store));
  ASSERT_EQ(reserve(store, {window("w", 3, 1)}).status, Status::kReserved);
  EXPECT_EQ(adjust(store, {window("w", 3, 3), tpm("w", 100, 150)}).status, Status::kReserved)
      << "applied although it overfills both: those sends happened";
  auto c = inspect();
  ASSERT_TRUE(c && c->err == 0);
  EXPECT_EQ(members(c.get(), windowKey("w")).size(), 4u);
  const SharedReserveResult refused = reserve(store, {window("w", 3, 1)});
  EXPECT_EQ(refused.status, Status::kRefused);
  EXPECT_GT(refused.retry_after, seconds(55)) << "until the window has room again";
  EXPECT_EQ(reserve(store, {tpm("w", 100, 1)}).status, Status::kRefused) << "tokens in debt";
}

TEST_F(RedisSharedBucketStoreTest, WindowAndTokenBucketAreTakenTogetherOrNotAtAll) {
  auto& store = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(store));
  EXPECT_EQ(reserve(store, {window("k", 5, 1), tpm("k", 100, 60)}).status, Status::kReserved);
  // Tokens refuse: the window must not have taken a slot.
  const SharedReserveResult refused = reserve(store, {window("k", 5, 1), tpm("k", 100, 60)});
  EXPECT_EQ(refused.status, Status::kRefused);
  EXPECT_GT(refused.retry_after, seconds(10));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(reserve(store, {window("k", 5, 1)}).status, Status::kReserved) << i;
  }
  // The window refuses: the bucket must not have given its 10 tokens.
  EXPECT_EQ(reserve(store, {window("k", 5, 1), tpm("k", 100, 10)}).status, Status::kRefused);
  EXPECT_EQ(reserve(store, {tpm("k", 100, 40)}).status, Status::kReserved);
}

TEST_F(RedisSharedBucketStoreTest, TwoStoresSharingAWindowGetOneLimitTogether) {
  auto& a = makeStore(redis_.port());
  auto& b = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(a));
  ASSERT_TRUE(waitAvailable(b));
  int reserved = 0, refused = 0, answered = 0;
  std::vector<std::string> grants;
  for (int i = 0; i < 30; ++i) {
    for (RedisSharedBucketStore* s : {&a, &b}) {
      s->reserve({window("shared", 20, 1)}, [&](SharedReserveResult r) {
        ++answered;
        if (r.status == Status::kReserved) {
          ++reserved;
          grants.push_back(r.grant);
        }
        if (r.status == Status::kRefused) ++refused;
      });
    }
  }
  ASSERT_TRUE(loop_.runUntil([&] { return answered == 60; }, seconds(5)));
  EXPECT_EQ(reserved, 20);
  EXPECT_EQ(refused, 40);
  std::sort(grants.begin(), grants.end());
  EXPECT_EQ(std::unique(grants.begin(), grants.end()), grants.end()) << "grant ids are unique";
}

TEST_F(RedisSharedBucketStoreTest, RunsAgainWithEvalAfterTheScriptCacheIsFlushed) {
  auto& store = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(store));
  EXPECT_EQ(reserve(store, {rpm("k", 10, 1)}).status, Status::kReserved);  // EVALSHA path
  std::unique_ptr<redisContext, void (*)(redisContext*)> sync(
      redisConnect("127.0.0.1", redis_.port()), &redisFree);
  ASSERT_TRUE(sync && sync->err == 0);
  freeReplyObject(redisCommand(sync.get(), "SCRIPT FLUSH"));
  EXPECT_EQ(reserve(store, {rpm("k", 10, 1)}).status, Status::kReserved);  // NOSCRIPT->EVAL
  EXPECT_EQ(reserve(store, {rpm("k", 10, 8)}).status, Status::kReserved);
  EXPECT_EQ(reserve(store, {rpm("k", 10, 1)}).status, Status::kRefused);
  EXPECT_EQ(unavailable_events_, 0) << last_reason_;
}

TEST_F(RedisSharedBucketStoreTest, RedisDownIsReportedUnavailableThenRecovers) {
  RedisSharedBucketStoreOptions options;
  options.backoff_min = milliseconds(50);
  options.backoff_max = milliseconds(200);
  auto& store = makeStore(redis_.port(), options);
  ASSERT_TRUE(waitAvailable(store));
  EXPECT_EQ(reserve(store, {rpm("k", 10, 1)}).status, Status::kReserved);

  redis_.stop();
  ASSERT_TRUE(loop_.runUntil([&] { return !store.available(); }, seconds(5)));
  EXPECT_GT(unavailable_events_, 0);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(reserve(store, {rpm("k", 10, 1)}).status, Status::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1000));

  redis_.start();  // same port, empty data
  ASSERT_TRUE(waitAvailable(store));
  EXPECT_EQ(reserve(store, {rpm("k", 10, 1)}).status, Status::kReserved);
}

TEST_F(RedisSharedBucketStoreTest, NothingListeningIsUnavailableWithinTheConnectTimeout) {
  RedisSharedBucketStoreOptions options;
  options.connect_timeout = milliseconds(200);
  auto& store = makeStore(unusedLoopbackPort(), options);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(reserve(store, {rpm("k", 10, 1)}).status, Status::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1000));
  EXPECT_FALSE(store.available());
  EXPECT_GT(unavailable_events_, 0);
}

TEST_F(RedisSharedBucketStoreTest, ClosingDropsPendingCallbacks) {
  auto& store = makeStore(redis_.port());
  ASSERT_TRUE(waitAvailable(store));
  int calls = 0;
  store.reserve({rpm("k", 10, 1)}, [&](SharedReserveResult) { ++calls; });
  store.close();
  loop_.runFor(milliseconds(50));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(reserve(store, {rpm("k", 10, 1)}).status, Status::kUnavailable);
}

}  // namespace
}  // namespace celeriac::testing::integration
