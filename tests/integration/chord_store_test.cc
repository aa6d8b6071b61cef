// The chord part script (chord_store.h) and ResultStore's EVALSHA with its NOSCRIPT
// fallback (redis_script.h), against a throwaway redis-server on 127.0.0.1.

#include "worker/redis/chord_store.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redis_server.h"
#include "test_loop.h"
#include "worker/celery/chord_part.h"

namespace celeriac::testing::integration {
namespace {

using std::chrono::seconds;
using worker::redis::ChordPartReply;
using worker::redis::ResultStore;
using worker::redis::ResultStoreOptions;

// A synchronous hiredis client: sets up keys and reads back what the store did.
class Sync {
 public:
  explicit Sync(int port) : c_(redisConnect("127.0.0.1", port)) {}
  ~Sync() {
    if (c_ != nullptr) redisFree(c_);
  }
  Sync(const Sync&) = delete;
  Sync& operator=(const Sync&) = delete;
  // The reply as text: a string, an integer's digits, "(nil)", or the array's count.
  std::string run(const std::vector<std::string>& argv) {
    std::vector<const char*> parts;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      parts.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(c_, static_cast<int>(parts.size()), parts.data(), lens.data()));
    std::string out = "(error)";
    if (reply != nullptr) {
      if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
          reply->type == REDIS_REPLY_ERROR) {
        out.assign(reply->str, reply->len);
      } else if (reply->type == REDIS_REPLY_INTEGER) {
        out = std::to_string(reply->integer);
      } else if (reply->type == REDIS_REPLY_NIL) {
        out = "(nil)";
      } else if (reply->type == REDIS_REPLY_ARRAY) {
        out = std::to_string(reply->elements);
      }
      freeReplyObject(reply);
    }
    return out;
  }

 private:
  redisContext* c_;
};

class ChordStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    worker::redis::RedisUrl url;
    url.host = "127.0.0.1";
    url.port = redis_.port();
    store_ = std::make_unique<ResultStore>(loop_.get(), url, ResultStoreOptions{},
                                           ResultStore::Callbacks{});
    store_->start();
  }
  void TearDown() override {
    store_.reset();
    EXPECT_EQ(loop_.close(), 0) << "a uv handle was left open";
  }

  ChordPartReply part(const std::string& gid, int index, const std::string& tid,
                      const std::string& state, const nlohmann::json& result) {
    std::optional<ChordPartReply> reply;
    worker::redis::reportChordPart(*store_, gid, worker::celery::chordPartScore(index),
                                   worker::celery::encodeChordPart(tid, state, result),
                                   seconds(86400), [&](ChordPartReply r) { reply = std::move(r); });
    EXPECT_TRUE(loop_.runUntil([&] { return reply.has_value(); }, seconds(10)));
    return reply.value_or(ChordPartReply{});
  }

  RedisServer redis_;
  TestLoop loop_;
  std::unique_ptr<ResultStore> store_;
};

TEST_F(ChordStoreTest, TheLastMemberGetsThePartsInHeaderOrderAndTheKeysGo) {
  Sync sync(redis_.port());
  sync.run({"SET", "celery-taskset-meta-g1.s", "3"});
  EXPECT_FALSE(part("g1", 2, "c", "SUCCESS", 6).completed);
  EXPECT_FALSE(part("g1", 0, "a", "SUCCESS", 2).completed);
  EXPECT_EQ(sync.run({"TTL", "celery-taskset-meta-g1.j"}), "86400");
  const ChordPartReply last = part("g1", 1, "b", "SUCCESS", 4);
  ASSERT_TRUE(last.completed);
  EXPECT_EQ(last.members,
            (std::vector<std::string>{R"([1, "a", "SUCCESS", 2])", R"([1, "b", "SUCCESS", 4])",
                                      R"([1, "c", "SUCCESS", 6])"}));
  EXPECT_FALSE(last.saved_group);
  EXPECT_EQ(sync.run({"EXISTS", "celery-taskset-meta-g1.j", "celery-taskset-meta-g1.s"}), "0");
}

TEST_F(ChordStoreTest, ExtraCountInDotTIsAddedToTheSize) {
  Sync sync(redis_.port());
  sync.run({"SET", "celery-taskset-meta-g2.s", "1"});
  sync.run({"SET", "celery-taskset-meta-g2.t", "1"});
  EXPECT_FALSE(part("g2", 0, "a", "SUCCESS", 1).completed);
  EXPECT_TRUE(part("g2", 1, "b", "SUCCESS", 2).completed);
}

TEST_F(ChordStoreTest, NoSizeNeverCompletesAndAFailureKeepsTheKeys) {
  Sync sync(redis_.port());
  EXPECT_FALSE(part("g3", 0, "a", "SUCCESS", 1).completed);  // Python: `if chord_size_bytes:`
  sync.run({"SET", "celery-taskset-meta-g4.s", "2"});
  part("g4", 0, "a", "FAILURE", nlohmann::json{{"exc_type", "ValueError"}});
  EXPECT_TRUE(part("g4", 1, "b", "SUCCESS", 2).completed);
  // Python raises ChordError before its `finally: DEL`: the keys stay until they expire.
  EXPECT_EQ(sync.run({"EXISTS", "celery-taskset-meta-g4.j"}), "1");
}

TEST_F(ChordStoreTest, AComplexHeaderReturnsTheSavedGroupAndItsLeaves) {
  Sync sync(redis_.port());
  sync.run({"SET", "celery-taskset-meta-g6.s", "2"});
  sync.run(
      {"SET", "celery-taskset-meta-g6",
       R"({"result": [["g6", null], [[["g7", null], [[["a", null], null]]], [["b", null], null]]]})"});
  sync.run({"SET", "celery-task-meta-a", R"({"status": "SUCCESS", "result": 1})"});
  sync.run({"SET", "celery-task-meta-b", R"({"status": "SUCCESS", "result": 2})"});
  EXPECT_FALSE(part("g6", 0, "a", "SUCCESS", 1).completed);
  const ChordPartReply last = part("g6", 1, "b", "SUCCESS", 2);
  ASSERT_TRUE(last.completed);
  ASSERT_TRUE(last.saved_group);
  ASSERT_EQ(last.saved_docs.size(), 2u);
  EXPECT_EQ(last.saved_docs[0], R"({"status": "SUCCESS", "result": 1})");
  EXPECT_TRUE(last.members.empty());
  EXPECT_EQ(sync.run({"EXISTS", "celery-taskset-meta-g6.j"}), "0");
}

// The completer of a complex header whose leaf is not ready waits, as join_native()
// does, reading the leaves again; Python deletes .j/.t/.s (`finally: DEL`) once the join
// returned, and keeps them when it raised (a failed leaf).
TEST_F(ChordStoreTest, AWaitedComplexHeaderLosesItsKeysOnceEveryLeafSucceeded) {
  Sync sync(redis_.port());
  const auto leaves = [&](const std::string& gid) {
    std::optional<std::vector<std::optional<std::string>>> docs;
    worker::redis::fetchChordLeaves(*store_, gid, {"a8", "b8"},
                                    [&](std::vector<std::optional<std::string>> d) { docs = d; });
    EXPECT_TRUE(loop_.runUntil([&] { return docs.has_value(); }, seconds(10)));
    return docs.value_or(std::vector<std::optional<std::string>>{});
  };
  const std::string started = R"({"status": "STARTED", "result": null})";
  const std::string success = R"({"status": "SUCCESS", "result": 2})";
  for (const char* gid : {"g8", "g9"}) {
    sync.run({"SET", std::string("celery-taskset-meta-") + gid + ".s", "2"});
    sync.run({"SET", std::string("celery-taskset-meta-") + gid,
              std::string(R"({"result": [[")") + gid +
                  R"(", null], [[["g", null], [[["a8", null], null]]], [["b8", null], null]]]})"});
  }
  sync.run({"SET", "celery-task-meta-a8", R"({"status": "SUCCESS", "result": 1})"});
  EXPECT_FALSE(part("g8", 0, "a8", "SUCCESS", 1).completed);
  const ChordPartReply last = part("g8", 1, "b8", "SUCCESS", 2);
  ASSERT_TRUE(last.completed);
  ASSERT_EQ(last.saved_docs.size(), 2u);
  EXPECT_EQ(last.saved_docs[1], std::nullopt);  // b8's document is not there yet
  EXPECT_EQ(sync.run({"EXISTS", "celery-taskset-meta-g8.j", "celery-taskset-meta-g8.s"}), "2");
  sync.run({"SET", "celery-task-meta-b8", started});
  EXPECT_EQ(leaves("g8")[1], started);  // not ready: still waiting, the keys stay
  EXPECT_EQ(sync.run({"EXISTS", "celery-taskset-meta-g8.j", "celery-taskset-meta-g8.s"}), "2");
  sync.run({"SET", "celery-task-meta-b8", success});
  EXPECT_EQ(leaves("g8")[1], success);
  EXPECT_EQ(sync.run({"EXISTS", "celery-taskset-meta-g8.j", "celery-taskset-meta-g8.s"}), "0");

  // The same wait ending with a failed leaf: the join raises, the keys stay to expire.
  EXPECT_FALSE(part("g9", 0, "a8", "SUCCESS", 1).completed);
  sync.run({"SET", "celery-task-meta-b8", R"({"status": "FAILURE", "result": null})"});
  EXPECT_TRUE(part("g9", 1, "b8", "FAILURE", nullptr).completed);
  leaves("g9");
  EXPECT_EQ(sync.run({"EXISTS", "celery-taskset-meta-g9.j", "celery-taskset-meta-g9.s"}), "2");
}

TEST_F(ChordStoreTest, ScriptsGoByShaAndTheSourceFollowsANoScript) {
  Sync sync(redis_.port());
  sync.run({"SET", "celery-taskset-meta-g5.s", "2"});
  part("g5", 0, "a", "SUCCESS", 1);
  // Redis forgets every script (as after a restart): the next call still works.
  EXPECT_EQ(sync.run({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_TRUE(part("g5", 1, "b", "SUCCESS", 2).completed);
  bool stored = false;
  store_->store("celery-task-meta-x", R"({"status": "SUCCESS"})", [&] { stored = true; });
  ASSERT_TRUE(loop_.runUntil([&] { return stored; }, seconds(10)));
  EXPECT_EQ(sync.run({"GET", "celery-task-meta-x"}), R"({"status": "SUCCESS"})");
  // EVALSHA first every time; EVAL only after each NOSCRIPT: the chord script's first
  // call, its call after the flush, and the store script's first call.
  const std::string stats = sync.run({"INFO", "commandstats"});
  EXPECT_NE(stats.find("cmdstat_evalsha:calls="), std::string::npos) << stats;
  const auto eval_pos = stats.find("cmdstat_eval:calls=");
  ASSERT_NE(eval_pos, std::string::npos) << stats;
  EXPECT_EQ(std::stoi(stats.substr(eval_pos + std::string("cmdstat_eval:calls=").size())), 3)
      << stats;
}

}  // namespace
}  // namespace celeriac::testing::integration
