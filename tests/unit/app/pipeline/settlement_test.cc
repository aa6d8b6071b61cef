// Settlement (pipeline/settlement.h), through the TaskPipeline: a task that applies a
// canvas from inside (celery.chunks): the group goes out with this task as parent, the
// stored result is the group's result tuple (listed in children too), and the message
// is acked only once the group is confirmed and the result stored.

#include "task_pipeline_fixture.h"
#include "worker/tasks/celery_builtins.h"

namespace celeriac::worker::app::pipeline_test {
namespace {

TEST_F(TaskPipelineTest, ChunksPublishesAGroupOfStarmapsAndStoresItsResultTuple) {
  tasks::registerCeleryBuiltins(registry_);
  make();
  const json echo = {{"task", "celeriac.echo"}, {"args", json::array()}, {"kwargs", json::object()}};
  const json items = json::parse("[[1], [2], [3], [4, 5]]");
  pipeline_->onDelivery(delivery("celery.chunks", "chunks-id", json::array({echo, items, 3})));
  loop_.runReady();
  ASSERT_EQ(fake_.published.size(), 2u);
  std::vector<std::string> ids;
  for (const auto& [message, done] : fake_.published) {
    EXPECT_EQ(message.headers.at("task"), "celery.starmap");
    EXPECT_EQ(message.headers.at("parent_id"), "chunks-id");
    EXPECT_EQ(message.headers.at("root_id"), "chunks-id");
    ids.push_back(message.headers.at("id").get<std::string>());
  }
  EXPECT_EQ(json::parse(fake_.published[0].first.body)[1]["it"], json::parse("[[1], [2], [3]]"));
  EXPECT_EQ(json::parse(fake_.published[1].first.body)[1]["it"], json::parse("[[4, 5]]"));
  const std::string gid = fake_.published[0].first.headers.at("group").get<std::string>();

  const FakePorts::Write* stored = fake_.lastFor("chunks-id");
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->doc["status"], "SUCCESS");
  const json tuple = json::array(
      {json::array({gid, nullptr}), json::array({json::array({json::array({ids[0], nullptr}),
                                                              nullptr}),
                                                 json::array({json::array({ids[1], nullptr}),
                                                              nullptr})})});
  EXPECT_EQ(stored->doc["result"], tuple);
  EXPECT_EQ(stored->doc["children"], json::array({tuple}));

  fake_.completeAll();
  EXPECT_TRUE(fake_.acked.empty());  // the group is not confirmed yet
  for (auto& [message, done] : fake_.published) done(true);
  EXPECT_EQ(fake_.acked.size(), 1u);
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline_test
