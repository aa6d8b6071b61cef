// ResultStore against a throwaway redis-server on 127.0.0.1, on a real loop: results
// stored and published (never over a SUCCESS), writes kept through an outage in their
// order, poison-detection counts, and a host name resolved without blocking the loop.

#include "worker/redis/result_store.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redis_server.h"
#include "test_loop.h"

namespace celeriac::testing::integration {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using worker::redis::ResultStore;
using worker::redis::ResultStoreOptions;

// A synchronous hiredis client for checking what the store wrote.
std::optional<std::string> get(int port, const std::string& key) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    return std::nullopt;
  }
  auto* reply = static_cast<redisReply*>(redisCommand(c, "GET %s", key.c_str()));
  std::optional<std::string> value;
  if (reply != nullptr && reply->type == REDIS_REPLY_STRING) value.emplace(reply->str, reply->len);
  if (reply != nullptr) freeReplyObject(reply);
  redisFree(c);
  return value;
}

// One command on a fresh synchronous connection: a string or status reply as text, an
// integer as digits, anything else empty.
std::string command(int port, const std::vector<std::string>& args) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    return {};
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  std::string text;
  if (reply != nullptr &&
      (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS)) {
    text.assign(reply->str, reply->len);
  } else if (reply != nullptr && reply->type == REDIS_REPLY_INTEGER) {
    text = std::to_string(reply->integer);
  }
  if (reply != nullptr) freeReplyObject(reply);
  redisFree(c);
  return text;
}

class ResultStoreTest : public ::testing::Test {
 protected:
  void TearDown() override {
    store_.reset();
    EXPECT_EQ(loop_.close(), 0) << "a uv handle was left open";
  }
  ResultStore& make(const std::string& host, int port, ResultStoreOptions options = {}) {
    worker::redis::RedisUrl url;
    url.host = host;
    url.port = port;
    ResultStore::Callbacks callbacks;
    callbacks.on_connected = [this] { ++connected_; };
    callbacks.on_unavailable = [this](const std::string& reason) { reasons_.push_back(reason); };
    store_ = std::make_unique<ResultStore>(loop_.get(), url, options, callbacks);
    store_->start();
    return *store_;
  }

  TestLoop loop_;
  std::unique_ptr<ResultStore> store_;
  int connected_ = 0;
  std::vector<std::string> reasons_;
};

TEST_F(ResultStoreTest, StoresByHostNameResolvedOffTheLoop) {
  RedisServer redis;
  ResultStore& store = make("localhost", redis.port());
  bool stored = false;
  store.store("celery-task-meta-x", R"({"status": "SUCCESS"})", [&] { stored = true; });
  ASSERT_TRUE(loop_.runUntil([&] { return stored; }, seconds(10)));
  EXPECT_EQ(get(redis.port(), "celery-task-meta-x"), R"({"status": "SUCCESS"})");
}

TEST_F(ResultStoreTest, CountsStartsAndForgetsThem) {
  RedisServer redis;
  ResultStore& store = make("127.0.0.1", redis.port());
  std::vector<long long> counts;
  store.countStart("celeriac-redelivered-starts-t", seconds(60),
                   [&](long long n) { counts.push_back(n); });
  store.countStart("celeriac-redelivered-starts-t", seconds(60),
                   [&](long long n) { counts.push_back(n); });
  ASSERT_TRUE(loop_.runUntil([&] { return counts.size() == 2; }, seconds(10)));
  EXPECT_EQ(counts, (std::vector<long long>{1, 2}));
  store.forget("celeriac-redelivered-starts-t");
  bool after = false;
  store.store("marker", "{}", [&] { after = true; });  // writes keep their order
  ASSERT_TRUE(loop_.runUntil([&] { return after; }, seconds(10)));
  EXPECT_FALSE(get(redis.port(), "celeriac-redelivered-starts-t").has_value());
}

TEST_F(ResultStoreTest, AHostThatDoesNotResolveIsLookedUpOffTheLoopAndRetried) {
  // hiredis 0.14 resolved inside redisAsyncConnect, on the loop, on every reconnect; the
  // "cannot resolve" reason comes from HostResolver's uv_getaddrinfo (the thread pool).
  make("no-such-host.invalid", 6379);
  ASSERT_TRUE(loop_.runUntil([&] { return reasons_.size() >= 2; }, seconds(30)));
  EXPECT_NE(reasons_.front().find("cannot resolve no-such-host.invalid"), std::string::npos)
      << reasons_.front();
  EXPECT_EQ(connected_, 0);
}

TEST_F(ResultStoreTest, ASuccessIsNeverOverwrittenAndOnlyStoredWritesArePublished) {
  RedisServer redis;
  ResultStore& store = make("127.0.0.1", redis.port());
  redisContext* subscriber = redisConnect("127.0.0.1", redis.port());
  ASSERT_TRUE(subscriber != nullptr && subscriber->err == 0);
  timeval five{5, 0};
  redisSetTimeout(subscriber, five);
  freeReplyObject(redisCommand(subscriber, "SUBSCRIBE celery-task-meta-y"));
  auto next_message = [&]() -> std::string {
    void* reply = nullptr;
    if (redisGetReply(subscriber, &reply) != REDIS_OK || reply == nullptr) return "(none)";
    auto* r = static_cast<redisReply*>(reply);
    std::string text = "(not a message)";
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3)
      text.assign(r->element[2]->str, r->element[2]->len);
    freeReplyObject(r);
    return text;
  };
  int stored = 0;
  store.store("celery-task-meta-y", R"({"status": "SUCCESS"})", [&] { ++stored; });
  store.store("celery-task-meta-y", R"({"status": "FAILURE"})", [&] { ++stored; });
  ASSERT_TRUE(loop_.runUntil([&] { return stored == 2; }, seconds(10)));
  EXPECT_EQ(get(redis.port(), "celery-task-meta-y"), R"({"status": "SUCCESS"})");
  // What AsyncResult.get() hears: the SUCCESS, then nothing from the refused FAILURE
  // (the marker, published after it, is the next message).
  EXPECT_EQ(command(redis.port(), {"PUBLISH", "celery-task-meta-y", "marker"}), "1");
  EXPECT_EQ(next_message(), R"({"status": "SUCCESS"})");
  EXPECT_EQ(next_message(), "marker");
  redisFree(subscriber);
}

TEST_F(ResultStoreTest, WritesMadeWhileRedisIsDownAreStoredInTheirOrderOnceItIsBack) {
  RedisServer redis;
  ResultStoreOptions options;
  options.backoff_min = milliseconds(50);
  options.backoff_max = milliseconds(200);
  ResultStore& store = make("127.0.0.1", redis.port(), options);
  ASSERT_TRUE(loop_.runUntil([&] { return connected_ == 1; }, seconds(10)));
  redis.stop();
  ASSERT_TRUE(loop_.runUntil([&] { return !store.connected(); }, seconds(10)));
  std::vector<int> done;
  store.store("celery-task-meta-z", R"({"status": "RETRY"})", [&] { done.push_back(1); });
  store.store("celery-task-meta-z", R"({"status": "SUCCESS"})", [&] { done.push_back(2); });
  loop_.runFor(milliseconds(300));  // a few reconnect attempts fail meanwhile
  EXPECT_TRUE(done.empty());
  EXPECT_EQ(store.backlog(), 2u);
  redis.start();  // same port, empty data
  ASSERT_TRUE(loop_.runUntil([&] { return done.size() == 2; }, seconds(10)));
  EXPECT_EQ(done, (std::vector<int>{1, 2}));
  EXPECT_EQ(get(redis.port(), "celery-task-meta-z"), R"({"status": "SUCCESS"})");
  EXPECT_EQ(store.backlog(), 0u);
}

// A refused write waits a backoff before it is sent again; when the connection drops in
// that wait, the reconnect sends it, and the writes after it must not wait for a retry
// that is no longer coming (they did: a result never stored, its task never acked).
TEST_F(ResultStoreTest, WritesAfterARefusedWriteAndAReconnectAreStillSent) {
  RedisServer redis;
  ResultStoreOptions options;
  options.backoff_min = milliseconds(2000);  // the retry is not due before the kill below
  options.backoff_max = milliseconds(2000);
  ResultStore& store = make("127.0.0.1", redis.port(), options);
  ASSERT_TRUE(loop_.runUntil([&] { return connected_ == 1; }, seconds(10)));
  EXPECT_EQ(command(redis.port(), {"CONFIG", "SET", "maxmemory", "1"}), "OK");
  bool first = false;
  store.store("celery-task-meta-a", R"({"status": "SUCCESS"})", [&] { first = true; });
  ASSERT_TRUE(loop_.runUntil([&] { return !reasons_.empty(); }, seconds(10)));
  EXPECT_NE(reasons_.front().find("write refused: "), std::string::npos) << reasons_.front();
  EXPECT_FALSE(first);
  // Redis takes writes again and drops the store's connection while its retry waits.
  EXPECT_EQ(command(redis.port(), {"CONFIG", "SET", "maxmemory", "0"}), "OK");
  EXPECT_EQ(command(redis.port(), {"CLIENT", "KILL", "TYPE", "normal"}), "1");
  ASSERT_TRUE(loop_.runUntil([&] { return first; }, seconds(20)));
  EXPECT_EQ(connected_, 2);
  bool second = false;
  store.store("celery-task-meta-b", R"({"status": "SUCCESS"})", [&] { second = true; });
  ASSERT_TRUE(loop_.runUntil([&] { return second; }, seconds(20)));
  EXPECT_EQ(get(redis.port(), "celery-task-meta-b"), R"({"status": "SUCCESS"})");
}

}  // namespace
}  // namespace celeriac::testing::integration
