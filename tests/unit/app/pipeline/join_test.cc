// joinAll() (pipeline/join.h): one callback after every part reported.

#include "worker/app/pipeline/join.h"

#include <gtest/gtest.h>

#include <optional>

namespace celeriac::worker::app::pipeline {
namespace {

TEST(JoinTest, DoneRunsOnceAfterTheLastPart) {
  int calls = 0;
  std::optional<bool> result;
  auto part = joinAll(3, [&](bool all_ok) {
    ++calls;
    result = all_ok;
  });
  auto copy = part;  // copies share the count
  part(true);
  copy(true);
  EXPECT_EQ(calls, 0);
  part(true);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(result, true);
  part(true);  // a report too many is ignored
  EXPECT_EQ(calls, 1);
}

TEST(JoinTest, OnePartNotOkMakesTheWholeNotOk) {
  std::optional<bool> result;
  auto part = joinAll(2, [&](bool all_ok) { result = all_ok; });
  part(false);
  part(true);
  EXPECT_EQ(result, false);
}

TEST(JoinTest, NoPartsIsDoneAtOnce) {
  std::optional<bool> result;
  auto part = joinAll(0, [&](bool all_ok) { result = all_ok; });
  EXPECT_EQ(result, true);
  part(false);
  EXPECT_EQ(result, true);
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline
