// --http-port / --http-bind and CELERIAC_HTTP_PORT: where /metrics, /healthz and /readyz
// are served (port 0: nowhere).

#include <gtest/gtest.h>

#include <vector>

#include "worker/app/worker_config.h"

namespace celeriac::worker::app {
namespace {

ParseOutcome parse(std::vector<const char*> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "worker");
  return parseWorkerArgs(static_cast<int>(args.size()), args.data(), env, "vm.example.org");
}

TEST(HttpPortFlagsTest, DefaultsTo9808OnEveryAddress) {
  auto out = parse({});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->http_port, 9808);
  EXPECT_EQ(out.config->http_bind, "0.0.0.0");
}

TEST(HttpPortFlagsTest, FlagSetsPortAndBindAndZeroTurnsItOff) {
  auto out = parse({"--http-port", "9100", "--http-bind", "127.0.0.1"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->http_port, 9100);
  EXPECT_EQ(out.config->http_bind, "127.0.0.1");
  out = parse({"--http-port", "0"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->http_port, 0);
}

TEST(HttpPortFlagsTest, EnvironmentGivesThePortAndTheFlagWins) {
  auto out = parse({}, {{"CELERIAC_HTTP_PORT", "9200"}});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->http_port, 9200);
  out = parse({"--http-port", "9300"}, {{"CELERIAC_HTTP_PORT", "9200"}});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->http_port, 9300);
}

TEST(HttpPortFlagsTest, ABadPortIsRefused) {
  EXPECT_FALSE(parse({"--http-port", "70000"}).config);
  auto out = parse({}, {{"CELERIAC_HTTP_PORT", "80x"}});
  EXPECT_FALSE(out.config);
  EXPECT_NE(out.message.find("CELERIAC_HTTP_PORT"), std::string::npos);
}

}  // namespace
}  // namespace celeriac::worker::app
