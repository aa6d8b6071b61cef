// ReadyQueue: prefetched tasks start by priority, first come first within one.
#include "worker/app/pipeline/ready_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace celeriac::worker::app::pipeline {
namespace {

std::vector<std::string> drain(ReadyQueue<std::string>& q) {
  std::vector<std::string> out;
  while (!q.empty()) out.push_back(q.pop());
  return out;
}

TEST(ReadyQueueTest, HigherPriorityStartsFirstFifoWithinAPriority) {
  ReadyQueue<std::string> q;
  q.push(0, "low-1");
  q.push(0, "low-2");
  q.push(9, "high-1");
  q.push(5, "mid");
  q.push(9, "high-2");
  q.push(0, "low-3");
  EXPECT_EQ(q.size(), 6u);
  EXPECT_EQ(drain(q),
            (std::vector<std::string>{"high-1", "high-2", "mid", "low-1", "low-2", "low-3"}));
  EXPECT_EQ(q.size(), 0u);
}

TEST(ReadyQueueTest, SamePriorityIsPlainFifo) {
  ReadyQueue<std::string> q;
  for (const char* s : {"a", "b", "c"}) q.push(0, s);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(ReadyQueueTest, ForEachVisitsInStartOrderAndClearEmpties) {
  ReadyQueue<std::string> q;
  q.push(1, "one");
  q.push(3, "three");
  q.push(1, "one-again");
  std::vector<std::string> seen;
  q.forEach([&seen](const std::string& s) { seen.push_back(s); });
  EXPECT_EQ(seen, (std::vector<std::string>{"three", "one", "one-again"}));
  q.clear();
  EXPECT_TRUE(q.empty());
}

TEST(ReadyQueueTest, ALateHighPriorityOvertakesWaitingLowOnes) {
  ReadyQueue<std::string> q;
  q.push(0, "low-1");
  q.push(0, "low-2");
  EXPECT_EQ(q.pop(), "low-1");
  q.push(7, "urgent");
  EXPECT_EQ(q.pop(), "urgent");
  EXPECT_EQ(q.pop(), "low-2");
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline
