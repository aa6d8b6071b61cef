#include "worker/redis/redis_url.h"

#include <gtest/gtest.h>

#include <string>

namespace celeriac::worker::redis {
namespace {

TEST(RedisUrlTest, ParsesHostPortDbAndPassword) {
  std::string error;
  auto url = parseRedisUrl("redis://:pw@10.0.0.5:6380/3", error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->host, "10.0.0.5");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 3);
  EXPECT_EQ(url->password, "pw");
  EXPECT_EQ(url->redacted().find("pw"), std::string::npos);
  auto plain = parseRedisUrl("redis://127.0.0.1:6379/0", error);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->db, 0);
  EXPECT_TRUE(plain->password.empty());
}

TEST(RedisUrlTest, RejectsOtherSchemesAndBadNumbers) {
  std::string error;
  EXPECT_FALSE(parseRedisUrl("rediss://h", error));
  EXPECT_FALSE(parseRedisUrl("redis://h:0/0", error));
  EXPECT_FALSE(parseRedisUrl("redis://h:6379/x", error));
  EXPECT_FALSE(parseRedisUrl("redis://h:6379/-1", error));
}

}  // namespace
}  // namespace celeriac::worker::redis
