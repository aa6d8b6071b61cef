// The shared bucket store's script arguments and key names (balancer/shared_bucket_store.h),
// as the worker's Redis store sends them.
#include "balancer/shared_bucket_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace celeriac::balancer {
namespace {

TEST(SharedScriptArgvTest, WritesModeThenFiveValuesPerLimitInOrder) {
  SharedBucketSpec window;
  window.key = "{k}:rpmw";
  window.capacity = 60;
  window.amount = -1;
  window.kind = SharedBucketSpec::Kind::kSlidingWindow;
  window.period = std::chrono::milliseconds(61000);
  window.grant = "123-1";
  SharedBucketSpec bucket;
  bucket.key = "{k}:tpm";
  bucket.capacity = 100000;
  bucket.amount = 0.1;
  std::vector<std::string> argv = sharedScriptArgv("adjust", {window, bucket});
  ASSERT_EQ(argv.size(), 11u);
  EXPECT_EQ(std::stod(argv[7]), 100000) << argv[7];  // shortest form: may read "1e+05"
  argv[7] = "100000";
  EXPECT_EQ(argv, (std::vector<std::string>{"adjust", "window", "60", "-1", "61000", "123-1",
                                            "bucket", "100000", "0.1", "60000", ""}));
}

TEST(SharedScriptArgvTest, WritesNumbersExactlyInTheirShortestForm) {
  SharedBucketSpec bucket;
  bucket.capacity = 12345678901.0;
  bucket.amount = 1.0 / 3.0;
  const std::vector<std::string> argv = sharedScriptArgv("reserve", {bucket});
  ASSERT_EQ(argv.size(), 6u);
  EXPECT_EQ(argv[2], "12345678901");
  EXPECT_EQ(std::stod(argv[3]), 1.0 / 3.0) << argv[3];
}

TEST(SharedBucketTagTest, HashTagsEveryLimitOfAKeyAndModelIntoOneSlot) {
  EXPECT_EQ(sharedBucketTag("alias", "gpt-4o"), "{celeriac:key:alias:gpt-4o}");
}

}  // namespace
}  // namespace celeriac::balancer
