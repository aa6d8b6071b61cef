#include "worker/app/parking.h"

#include <gtest/gtest.h>

namespace celeriac::worker::app {
namespace {

using std::chrono::milliseconds;

std::vector<amqp::DelayTier> tiers() {
  return {{"5s", milliseconds(5000)}, {"30s", milliseconds(30000)}, {"10m", milliseconds(600000)}};
}

TEST(ParkingTest, PicksTheLongestTierNotLongerThanTheDelay) {
  EXPECT_EQ(pickTier(tiers(), milliseconds(3600000))->name, "10m");
  EXPECT_EQ(pickTier(tiers(), milliseconds(45000))->name, "30s");
  EXPECT_EQ(pickTier(tiers(), milliseconds(30000))->name, "30s");
  EXPECT_EQ(pickTier(tiers(), milliseconds(1000))->name, "5s") << "shortest when all are longer";
  EXPECT_FALSE(pickTier({}, milliseconds(1000)));
}

TEST(ParkingTest, ParkedMessageKeepsTheOriginalAndAddsParkHeaders) {
  amqp::Delivery d;
  d.queue = "gpt5-analyzer";
  d.message.content_type = "application/json";
  d.message.content_encoding = "utf-8";
  d.message.correlation_id = "id-1";
  d.message.reply_to = "oid";
  d.message.priority = 3;
  d.message.body = R"([[1],{},null])";
  d.message.headers = {{"task", "celeriac.echo"},
                       {"id", "id-1"},
                       {"x-death", nlohmann::json::array()},
                       {"x-first-death-queue", "q"},
                       {"x_custom", 1}};
  const auto now = std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 56);
  auto out = parkedMessage(d, tiers()[1], "eta", now);
  EXPECT_EQ(out.exchange, "celeriac.delay.30s");
  EXPECT_EQ(out.routing_key, "gpt5-analyzer");
  EXPECT_EQ(out.body, d.message.body);
  EXPECT_EQ(out.correlation_id, "id-1");
  EXPECT_EQ(out.reply_to, "oid");
  EXPECT_EQ(out.priority.value_or(0), 3);
  EXPECT_EQ(out.headers["task"], "celeriac.echo");
  EXPECT_EQ(out.headers["x_custom"], 1);
  EXPECT_FALSE(out.headers.contains("x-death"));
  EXPECT_FALSE(out.headers.contains("x-first-death-queue"));
  EXPECT_EQ(out.headers[kParkCountHeader], 1);
  EXPECT_EQ(out.headers[kParkReasonHeader], "eta");
  const std::string since = out.headers[kParkedSinceHeader];

  // Parked again later: the count grows, the first park time stays.
  amqp::Delivery again = d;
  again.message.headers = out.headers;
  auto second = parkedMessage(again, tiers()[0], "eta", now + std::chrono::minutes(10));
  EXPECT_EQ(second.headers[kParkCountHeader], 2);
  EXPECT_EQ(second.headers[kParkedSinceHeader], since);
  EXPECT_EQ(parkCount(again), 1);
}

}  // namespace
}  // namespace celeriac::worker::app
