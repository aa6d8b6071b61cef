// uuid4() (task_id.h): Celery's uuid() format, version 4 and RFC 4122 variant bits set.

#include "worker/celery/task_id.h"

#include <gtest/gtest.h>

#include <regex>

namespace celeriac::worker::celery {
namespace {

TEST(TaskIdTest, SetsTheVersionAndVariantBits) {
  EXPECT_EQ(uuid4(0, 0), "00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(uuid4(~0ULL, ~0ULL), "ffffffff-ffff-4fff-bfff-ffffffffffff");
}

TEST(TaskIdTest, KeepsTheRandomBitsInOrder) {
  EXPECT_EQ(uuid4(0x0123456789abcdefULL, 0x0123456789abcdefULL),
            "01234567-89ab-4def-8123-456789abcdef");
  const std::regex shape("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  EXPECT_TRUE(std::regex_match(uuid4(0xdeadbeefcafef00dULL, 0x5555aaaa5555aaaaULL), shape));
}

}  // namespace
}  // namespace celeriac::worker::celery
