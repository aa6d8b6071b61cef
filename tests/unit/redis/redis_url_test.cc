#include "worker/redis/redis_url.h"

#include <gtest/gtest.h>

#include <string>

namespace celeriac::worker::redis {
namespace {

TEST(RedisUrlTest, ParsesHostPortDbAndPassword) {
  auto url = parseRedisUrl("redis://:pw@10.0.0.5:6380/3");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(url->host, "10.0.0.5");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 3);
  EXPECT_EQ(url->password, "pw");
  EXPECT_EQ(url->redacted().find("pw"), std::string::npos);
  auto plain = parseRedisUrl("redis://127.0.0.1:6379/0");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->db, 0);
  EXPECT_TRUE(plain->password.empty());
}

TEST(RedisUrlTest, RejectsOtherSchemesAndBadNumbers) {
  EXPECT_FALSE(parseRedisUrl("rediss://h"));
  EXPECT_FALSE(parseRedisUrl("redis://h:0/0"));
  EXPECT_FALSE(parseRedisUrl("redis://h:6379/x"));
  EXPECT_FALSE(parseRedisUrl("redis://h:6379/-1"));
}

}  // namespace
}  // namespace celeriac::worker::redis
