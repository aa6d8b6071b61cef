#include "worker/amqp/broker_url.h"

#include <gtest/gtest.h>

namespace celeriac::worker {
namespace {

TEST(BrokerUrlTest, ParsesCelerysDefaultSpellingWithDoubleSlashVhost) {
  auto url = amqp::parseBrokerUrl("amqp://guest:guest@127.0.0.1:5672//");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 5672);
  EXPECT_EQ(url->user, "guest");
  EXPECT_EQ(url->password, "guest");
  EXPECT_EQ(url->vhost, "/");
}

TEST(BrokerUrlTest, DecodesVhostAndCredentialsAndDefaultsTheRest) {
  auto url = amqp::parseBrokerUrl("amqp://us%40er:p%3Ass@rabbit/prod%2Feu");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(url->user, "us@er");
  EXPECT_EQ(url->password, "p:ss");
  EXPECT_EQ(url->host, "rabbit");
  EXPECT_EQ(url->port, 5672);
  EXPECT_EQ(url->vhost, "prod/eu");
  auto bare = amqp::parseBrokerUrl("amqp://h");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->vhost, "/");
  EXPECT_EQ(bare->user, "guest");
}

TEST(BrokerUrlTest, RedactedFormNeverContainsThePassword) {
  auto url = amqp::parseBrokerUrl("amqp://admin:s3cr3t-value@h:5673/v");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->redacted().find("s3cr3t"), std::string::npos);
  EXPECT_NE(url->redacted().find("admin"), std::string::npos);
}

TEST(BrokerUrlTest, RejectsBadInputWithoutQuotingThePassword) {
  auto other_scheme = amqp::parseBrokerUrl("redis://h");
  ASSERT_FALSE(other_scheme);
  EXPECT_NE(other_scheme.error().message.find("amqp://"), std::string::npos);
  auto bad_port = amqp::parseBrokerUrl("amqp://u:topsecret@h:notaport/");
  ASSERT_FALSE(bad_port);
  EXPECT_EQ(bad_port.error().message.find("topsecret"), std::string::npos);
  EXPECT_FALSE(amqp::parseBrokerUrl("amqp://u:p@h:70000/"));
  EXPECT_FALSE(amqp::parseBrokerUrl("amqp://u:p%zz@h/"));
}

TEST(BrokerUrlTest, SplitsSemicolonSeparatedFailoverUrls) {
  auto urls = amqp::parseBrokerUrls("amqp://a:1@n1:5672//; amqp://a:1@n2:5672//");
  ASSERT_TRUE(urls) << urls.error().message;
  ASSERT_EQ(urls->size(), 2u);
  EXPECT_EQ((*urls)[1].host, "n2");
  EXPECT_FALSE(amqp::parseBrokerUrls(" ; "));
}

}  // namespace
}  // namespace celeriac::worker
