// routeTask() (task_routes.h): the worker's own task queues by exact name, then Celery's
// task_routes globs in order, else nothing (the default queue).

#include "worker/celery/task_routes.h"

#include <gtest/gtest.h>

namespace celeriac::worker::celery {
namespace {

TEST(TaskRoutesTest, ExactNamesComeBeforePatterns) {
  const std::map<std::string, std::string> exact{{"gpt5_analyzer.analyze", "gpt5-analyzer"}};
  const std::vector<std::pair<std::string, std::string>> patterns{{"gpt5_*", "other"},
                                                                  {"rules.*", "rule-retriever"}};
  EXPECT_EQ(routeTask("gpt5_analyzer.analyze", exact, patterns), "gpt5-analyzer");
  EXPECT_EQ(routeTask("gpt5_analyzer.describe", exact, patterns), "other");
  EXPECT_EQ(routeTask("rules.retrieve", exact, patterns), "rule-retriever");
  EXPECT_EQ(routeTask("pyapp.add", exact, patterns), std::nullopt);
}

TEST(TaskRoutesTest, TheFirstMatchingPatternWins) {
  const std::vector<std::pair<std::string, std::string>> patterns{
      {"celery.*", "celeriac"}, {"*", "catch-all"}, {"celery.map", "never"}};
  EXPECT_EQ(routeTask("celery.map", {}, patterns), "celeriac");
  EXPECT_EQ(routeTask("x", {}, patterns), "catch-all");
  EXPECT_EQ(routeTask("pyapp.add", {}, {{"pyapp.?", "q"}}), std::nullopt);  // ? is one character
}

}  // namespace
}  // namespace celeriac::worker::celery
