// Redis key names (result_keys.h), as Celery 5.2.6 writes them (schemas/fixtures/celery
// mon1.txt: SETEX celery-task-meta-<id>, ZADD celery-taskset-meta-<gid>.j, GET ... .s).

#include "worker/celery/result_keys.h"

#include <gtest/gtest.h>

namespace celeriac::worker::celery {
namespace {

TEST(ResultKeysTest, TaskResultKey) {
  EXPECT_EQ(resultKey("6460e484-cc70-4a4d-9f17-e53dd39b50b4"),
            "celery-task-meta-6460e484-cc70-4a4d-9f17-e53dd39b50b4");
}

TEST(ResultKeysTest, GroupKeysWithAndWithoutSuffix) {
  EXPECT_EQ(groupKey("28aa69e4"), "celery-taskset-meta-28aa69e4");
  EXPECT_EQ(groupKey("28aa69e4", ".j"), "celery-taskset-meta-28aa69e4.j");
  EXPECT_EQ(groupKey("28aa69e4", ".s"), "celery-taskset-meta-28aa69e4.s");
}

TEST(ResultKeysTest, RedeliveredStartsKey) {
  EXPECT_EQ(redeliveredStartsKey("t1"), "celeriac-redelivered-starts-t1");
}

}  // namespace
}  // namespace celeriac::worker::celery
