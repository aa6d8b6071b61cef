// RedisConnection against a throwaway redis-server on 127.0.0.1, on a real loop, checked
// from outside: MONITOR shows what went on the wire (AUTH, SELECT, EVALSHA, EVAL, SCRIPT
// LOAD) and in which database, a side connection shows what was stored.

#include "worker/redis/redis_connection.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.h"
#include "test_loop.h"
#include "test_ports.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::testing::integration {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using worker::redis::RedisConnection;
using worker::redis::RedisConnectionOptions;
using worker::redis::RedisScript;
using worker::redis::RedisUrl;
using worker::redis::RedisValue;

// Returns its keys and args; calls no command, so MONITOR shows no "lua" lines for it.
const RedisScript kEcho("return {KEYS[1], ARGV[1]}");

// A blocking side connection (the loop is not running while it is used).
class Sync {
 public:
  explicit Sync(int port) : c_(redisConnect("127.0.0.1", port)) {
    timeval five{5, 0};
    if (c_ != nullptr && c_->err == 0) redisSetTimeout(c_, five);
  }
  ~Sync() {
    if (c_ != nullptr) redisFree(c_);
  }
  Sync(const Sync&) = delete;
  Sync& operator=(const Sync&) = delete;

  // The reply as text: a string, status or error, an integer's digits, "(nil)".
  std::string run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return text(static_cast<redisReply*>(
        redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data())));
  }
  // The next reply, waiting up to 5 s (MONITOR sends one per command).
  std::string next() {
    void* reply = nullptr;
    if (redisGetReply(c_, &reply) != REDIS_OK) return "(timeout)";
    return text(static_cast<redisReply*>(reply));
  }

 private:
  static std::string text(redisReply* reply) {
    std::string out = "(no reply)";
    if (reply == nullptr) return out;
    if (reply->type == REDIS_REPLY_INTEGER) {
      out = std::to_string(reply->integer);
    } else if (reply->type == REDIS_REPLY_NIL) {
      out = "(nil)";
    } else if (reply->str != nullptr) {
      out.assign(reply->str, reply->len);
    }
    freeReplyObject(reply);
    return out;
  }
  redisContext* c_;
};

// MONITOR's lines as `<db> "COMMAND" "arg"...` (the command as the client spelt it),
// without the time and client address; only the commands whose name is in `names`.
class Monitor {
 public:
  explicit Monitor(int port) : sync_(port) { EXPECT_EQ(sync_.run({"MONITOR"}), "OK"); }
  std::vector<std::string> next(std::size_t count, const std::vector<std::string>& names) {
    std::vector<std::string> lines;
    while (lines.size() < count) {
      const std::string line = sync_.next();
      if (line == "(timeout)") break;
      // 1796278553.242841 [3 127.0.0.1:52494] "SELECT" "3"
      const auto open = line.find('[');
      const auto space = line.find(' ', open);
      const auto close = line.find("] ", space);
      if (open == std::string::npos || close == std::string::npos) continue;
      const std::string rest = line.substr(close + 2);
      for (const std::string& name : names) {
        if (rest.rfind("\"" + name + "\"", 0) == 0) {
          lines.push_back(line.substr(open + 1, space - open - 1) + " " + rest);
        }
      }
    }
    return lines;
  }

 private:
  Sync sync_;
};

class RedisConnectionTest : public ::testing::Test {
 protected:
  void TearDown() override {
    connection_.reset();
    EXPECT_EQ(loop_.close(), 0) << "a uv handle was left open";
  }
  RedisUrl url() {
    RedisUrl url;
    url.host = "127.0.0.1";
    url.port = redis_.port();
    return url;
  }
  RedisConnection& make(RedisUrl url, RedisConnectionOptions options = {}) {
    RedisConnection::Callbacks callbacks;
    callbacks.on_connected = [this] { ++connected_; };
    callbacks.on_unavailable = [this](const std::string& reason) { reasons_.push_back(reason); };
    connection_ = std::make_unique<RedisConnection>(loop_.get(), std::move(url), std::move(options),
                                                    std::move(callbacks));
    connection_->start();
    return *connection_;
  }
  // Sends and waits for the answer (nullopt: the connection went first).
  std::optional<RedisValue> call(std::vector<std::string> argv) {
    return wait([&](RedisConnection::Done done) { return connection_->command(argv, done); });
  }
  std::optional<RedisValue> script(const std::string& key, const std::string& arg) {
    return wait([&](RedisConnection::Done done) {
      return connection_->runScript(kEcho, {key}, {arg}, std::move(done));
    });
  }
  template <typename Send>
  std::optional<RedisValue> wait(Send send) {
    bool answered = false;
    bool inside = true;
    std::optional<RedisValue> reply;
    EXPECT_TRUE(send([&](std::optional<RedisValue> r) {
      EXPECT_FALSE(inside) << "answered inside the call";
      answered = true;
      reply = std::move(r);
    }));
    inside = false;
    EXPECT_TRUE(loop_.runUntil([&] { return answered; }, seconds(10)));
    return reply;
  }
  static std::string str(const std::optional<RedisValue>& reply) {
    return reply ? reply->str : "(lost)";
  }

  RedisServer redis_;
  TestLoop loop_;
  std::unique_ptr<RedisConnection> connection_;
  int connected_ = 0;
  std::vector<std::string> reasons_;
};

TEST_F(RedisConnectionTest, AuthenticatesAsTheUrlsUserAndSelectsItsDatabaseFirst) {
  Sync admin(redis_.port());
  ASSERT_EQ(admin.run({"ACL", "SETUSER", "worker", "on", ">s3cret", "~*", "&*", "+@all"}), "OK");
  Monitor monitor(redis_.port());
  RedisUrl u = url();
  u.username = "worker";
  u.password = "s3cret";
  u.db = 3;
  make(u);
  EXPECT_EQ(str(call({"SET", "k", "v"})), "OK");
  EXPECT_EQ(monitor.next(3, {"AUTH", "SELECT", "SET"}),
            (std::vector<std::string>{R"x(0 "AUTH" "(redacted)" "(redacted)")x",
                                      R"(3 "SELECT" "3")", R"(3 "SET" "k" "v")"}));
  EXPECT_EQ(admin.run({"GET", "k"}), "(nil)") << "not in database 0";
  EXPECT_EQ(admin.run({"SELECT", "3"}), "OK");
  EXPECT_EQ(admin.run({"GET", "k"}), "v");
  EXPECT_TRUE(reasons_.empty());
}

TEST_F(RedisConnectionTest, APasswordAloneAuthenticatesTheDefaultUserAndAWrongOneIsRefused) {
  Sync admin(redis_.port());
  ASSERT_EQ(admin.run({"CONFIG", "SET", "requirepass", "s3cret"}), "OK");
  RedisUrl u = url();
  u.password = "s3cret";
  make(u);
  EXPECT_EQ(str(call({"PING"})), "PONG");
  u.password = "wrong-secret";
  make(u);
  const std::optional<RedisValue> refused = call({"SET", "k", "v"});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->type, RedisValue::Type::kError);
  EXPECT_EQ(refused->str.rfind("NOAUTH", 0), 0u) << refused->str;
  EXPECT_EQ(refused->str.find("wrong-secret"), std::string::npos);
}

TEST_F(RedisConnectionTest, ScriptsGoBySha1AndTheSourceOnlyAfterANoScript) {
  Monitor monitor(redis_.port());
  make(url());
  for (const char* arg : {"a", "b"}) {
    const std::optional<RedisValue> reply = script("k", arg);
    ASSERT_TRUE(reply.has_value());
    ASSERT_EQ(reply->elements.size(), 2u);
    EXPECT_EQ(reply->elements[1].str, arg);
  }
  Sync admin(redis_.port());
  EXPECT_EQ(admin.run({"SCRIPT", "FLUSH"}), "OK");
  ASSERT_TRUE(script("k", "c").has_value());
  const std::string sha = '"' + kEcho.sha1() + '"';
  const std::string source = R"("return {KEYS[1], ARGV[1]}")";
  EXPECT_EQ(monitor.next(6, {"EVALSHA", "EVAL", "SCRIPT"}),
            (std::vector<std::string>{
                R"(0 "EVALSHA" )" + sha + R"( "1" "k" "a")",  // NOSCRIPT: never loaded
                R"(0 "EVAL" )" + source + R"( "1" "k" "a")",
                R"(0 "EVALSHA" )" + sha + R"( "1" "k" "b")",  // cached by the EVAL
                R"(0 "SCRIPT" "FLUSH")",
                R"(0 "EVALSHA" )" + sha + R"( "1" "k" "c")",
                R"(0 "EVAL" )" + source + R"( "1" "k" "c")",
            }));
}

TEST_F(RedisConnectionTest, PreloadedScriptsAreLoadedOnEveryConnection) {
  Monitor monitor(redis_.port());
  RedisConnectionOptions options;
  options.preload = {&kEcho};
  make(url(), options);
  ASSERT_TRUE(script("k", "a").has_value());
  // Redis forgets the script and drops this connection: the next one loads it again.
  const std::optional<RedisValue> id = call({"CLIENT", "ID"});
  ASSERT_TRUE(id.has_value());
  Sync admin(redis_.port());
  EXPECT_EQ(admin.run({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_EQ(admin.run({"CLIENT", "KILL", "ID", std::to_string(id->integer)}), "1");
  ASSERT_TRUE(loop_.runUntil([&] { return connected_ == 2; }, seconds(10)));
  ASSERT_TRUE(script("k", "b").has_value());
  const std::string sha = '"' + kEcho.sha1() + '"';
  const std::string load = R"(0 "SCRIPT" "LOAD" "return {KEYS[1], ARGV[1]}")";
  EXPECT_EQ(monitor.next(5, {"EVALSHA", "EVAL", "SCRIPT"}),
            (std::vector<std::string>{load, R"(0 "EVALSHA" )" + sha + R"( "1" "k" "a")",
                                      R"(0 "SCRIPT" "FLUSH")", load,
                                      R"(0 "EVALSHA" )" + sha + R"( "1" "k" "b")"}));
}

TEST_F(RedisConnectionTest, ReconnectsAfterTheServerStopsAndStartsAgain) {
  RedisConnectionOptions options;
  options.backoff_min = milliseconds(50);
  options.backoff_max = milliseconds(200);
  RedisConnection& connection = make(url(), options);
  EXPECT_EQ(str(call({"PING"})), "PONG");  // Redis took the connection: it closes it on stop
  EXPECT_EQ(connected_, 1);
  // A command that Redis holds (BLPOP waits for ever) is lost with the server.
  bool lost = false;
  ASSERT_TRUE(connection.command({"BLPOP", "nothing", "0"},
                                 [&](std::optional<RedisValue> r) { lost = !r.has_value(); }));
  redis_.stop();
  ASSERT_TRUE(loop_.runUntil([&] { return lost && !reasons_.empty(); }, seconds(10)));
  EXPECT_FALSE(connection.connected());
  redis_.start();  // same port, empty data
  ASSERT_TRUE(loop_.runUntil([&] { return connected_ == 2; }, seconds(10)));
  EXPECT_EQ(str(call({"PING"})), "PONG");
}

TEST_F(RedisConnectionTest, ACommandWithoutAnAnswerTimesOutAndTheConnectionIsMadeAgain) {
  RedisConnectionOptions options;
  options.command_timeout = milliseconds(300);
  options.backoff_min = milliseconds(50);
  options.backoff_max = milliseconds(100);
  make(url(), options);
  EXPECT_FALSE(call({"BLPOP", "nothing", "0"}).has_value());
  ASSERT_FALSE(reasons_.empty());
  EXPECT_EQ(reasons_.back(), "command timed out");
  ASSERT_TRUE(loop_.runUntil([&] { return connected_ == 2; }, seconds(10)));
  EXPECT_EQ(str(call({"PING"})), "PONG");
}

TEST_F(RedisConnectionTest, ACommandsTimeoutStartsWhenItIsSentNotWhenTheLoopTurnBegan) {
  RedisConnectionOptions options;
  options.command_timeout = milliseconds(300);
  make(url(), options);
  ASSERT_TRUE(loop_.runUntil([&] { return connected_ == 1; }, seconds(10)));
  // The loop's idea of now stays where its last turn began while code runs (here: the
  // test, standing for a turn busy with a burst of deliveries) for longer than the
  // timeout. A deadline taken from it was already past when the command went out.
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(str(call({"PING"})), "PONG");
  EXPECT_TRUE(reasons_.empty()) << reasons_.front();
}

TEST_F(RedisConnectionTest, AReplyWaitingUnreadAfterABusyLoopTurnIsReadNotTimedOut) {
  RedisConnectionOptions options;
  options.command_timeout = milliseconds(300);
  make(url(), options);
  ASSERT_TRUE(loop_.runUntil([&] { return connected_ == 1; }, seconds(10)));
  // The PING goes out in the first poll phase; the check phase right after it is busy
  // for longer than the timeout (a burst of deliveries), and Redis answers meanwhile.
  // The next turn runs timers before it polls: the deadline is past with the answer
  // sitting unread on the socket, which is not Redis failing to answer.
  bool stalled = false;
  auto stall = worker::uv::makeHandle<uv_check_t>(loop_.get(), &stalled);
  uv_check_start(stall.get(), [](uv_check_t* c) noexcept {
    auto* done = static_cast<bool*>(c->data);
    if (*done) return;
    *done = true;
    std::this_thread::sleep_for(milliseconds(400));
  });
  EXPECT_EQ(str(call({"PING"})), "PONG");
  EXPECT_TRUE(stalled);
  EXPECT_TRUE(reasons_.empty()) << reasons_.front();
}

TEST_F(RedisConnectionTest, NothingListeningIsReportedWithinTheConnectTimeoutAndRetried) {
  RedisConnectionOptions options;
  options.connect_timeout = milliseconds(200);
  options.backoff_min = milliseconds(50);
  options.backoff_max = milliseconds(100);
  RedisUrl u = url();
  u.port = unusedLoopbackPort();
  make(u, options);
  ASSERT_TRUE(loop_.runUntil([&] { return reasons_.size() >= 2; }, seconds(10)));
  EXPECT_EQ(reasons_.front(), "connect timed out or was refused");
  EXPECT_EQ(connected_, 0);
}

TEST_F(RedisConnectionTest, CloseDropsEveryCallbackAndRefusesLaterCommands) {
  RedisConnection& connection = make(url());
  ASSERT_TRUE(loop_.runUntil([&] { return connected_ == 1; }, seconds(10)));
  int calls = 0;
  ASSERT_TRUE(connection.command({"PING"}, [&](std::optional<RedisValue>) { ++calls; }));
  connection.close();
  EXPECT_FALSE(connection.command({"PING"}, [&](std::optional<RedisValue>) { ++calls; }));
  loop_.runFor(milliseconds(100));
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(reasons_.empty()) << "closing is not an outage";
}

// Run under ASan: a use after free here is a crash, not a wrong count.
TEST_F(RedisConnectionTest, ACallbackMayDestroyTheConnection) {
  make(url());
  int later = 0;
  bool first = false;
  ASSERT_TRUE(connection_->command({"PING"}, [&](std::optional<RedisValue>) {
    first = true;
    connection_.reset();  // inside hiredis's reply callback
  }));
  ASSERT_TRUE(connection_->command({"PING"}, [&](std::optional<RedisValue>) { ++later; }));
  ASSERT_TRUE(loop_.runUntil([&] { return first; }, seconds(10)));
  loop_.runFor(milliseconds(100));
  EXPECT_EQ(later, 0);

  // The same when the connection is lost: the first lost command destroys it, the others
  // and on_unavailable never hear of it.
  make(url());
  EXPECT_EQ(str(call({"PING"})), "PONG");  // Redis took the connection: it closes it on stop
  bool lost = false;
  ASSERT_TRUE(connection_->command({"BLPOP", "nothing", "0"}, [&](std::optional<RedisValue>) {
    lost = true;
    connection_.reset();
  }));
  ASSERT_TRUE(connection_->command({"PING"}, [&](std::optional<RedisValue>) { ++later; }));
  redis_.stop();
  ASSERT_TRUE(loop_.runUntil([&] { return lost; }, seconds(10)));
  loop_.runFor(milliseconds(100));
  EXPECT_EQ(later, 0);
  EXPECT_TRUE(reasons_.empty());
}

// hiredis 0.14 goes on using its context after the connect callback returns, so the
// connection tells its owner from the loop, not from inside that callback.
TEST_F(RedisConnectionTest, OnConnectedMayDestroyTheConnection) {
  RedisConnection::Callbacks callbacks;
  callbacks.on_connected = [this] {
    ++connected_;
    connection_.reset();
  };
  connection_ = std::make_unique<RedisConnection>(loop_.get(), url(), RedisConnectionOptions{},
                                                  std::move(callbacks));
  connection_->start();
  ASSERT_TRUE(loop_.runUntil([&] { return connected_ == 1; }, seconds(10)));
  loop_.runFor(milliseconds(100));
  EXPECT_EQ(connected_, 1);
}

}  // namespace
}  // namespace celeriac::testing::integration
