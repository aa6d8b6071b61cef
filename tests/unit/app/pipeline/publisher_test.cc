// Publisher (pipeline/publisher.h): chord sizes and saved groups are written before any
// message goes out; a batch is one publish in flight until every message is confirmed;
// canvas ids and routes.

#include "worker/app/pipeline/publisher.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "fake_loop.h"

namespace celeriac::worker::app::pipeline {
namespace {

class PublisherTest : public ::testing::Test {
 protected:
  PublisherTest() {
    ports_.store = [this](std::string key, std::string, std::function<void()> done) {
      writes_.push_back(key);
      write_done_.push_back(std::move(done));
    };
    ports_.set_chord_size = [this](std::string gid, std::int64_t size, std::function<void()> done) {
      writes_.push_back(gid + ".s=" + std::to_string(size));
      write_done_.push_back(std::move(done));
    };
    ports_.publish = [this](amqp::OutgoingMessage m, std::function<void(bool)> done) {
      published_.push_back(m.routing_key);
      confirms_.push_back(std::move(done));
    };
  }

  static celery::OutboundMessage message(const std::string& queue) {
    celery::OutboundMessage m;
    m.routing_key = queue;
    return m;
  }

  testing::FakeDispatcher loop_;
  PipelinePorts ports_;
  PipelineOptions options_;
  PipelineCounters counters_;
  InFlight in_flight_;
  std::vector<std::string> writes_;
  std::vector<std::function<void()>> write_done_;
  std::vector<std::string> published_;
  std::vector<std::function<void(bool)>> confirms_;
  Publisher publisher_{Context{loop_, ports_, options_, counters_, in_flight_}};
};

TEST_F(PublisherTest, SizesAndSavedGroupsAreWrittenBeforeAnyMemberGoesOut) {
  std::optional<bool> done;
  publisher_.publishExpansion({{"g1", 3, R"({"result": []})"}, {"g2", 2}},
                              {message("a"), message("b")}, [&](bool ok) { done = ok; });
  EXPECT_EQ(writes_, (std::vector<std::string>{"celery-taskset-meta-g1", "g1.s=3", "g2.s=2"}));
  write_done_[0]();
  write_done_[1]();
  EXPECT_TRUE(published_.empty());
  write_done_[2]();
  EXPECT_EQ(published_, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(in_flight_.publishing, 1u);
  confirms_[0](true);
  confirms_[1](false);
  EXPECT_EQ(done, false);  // one unconfirmed message fails the batch
  EXPECT_EQ(in_flight_.publishing, 0u);
}

TEST_F(PublisherTest, NothingToPublishIsDoneAtOnce) {
  std::optional<bool> done;
  publisher_.publishExpansion({{"g1", 3}}, {}, [&](bool ok) { done = ok; });
  EXPECT_EQ(done, true);
  EXPECT_TRUE(writes_.empty());
}

TEST_F(PublisherTest, CanvasContextRoutesLikeTheWorkerAndMakesFreshIds) {
  options_.hostname = "celeriac@test";
  options_.task_queues = {{"gpt5_analyzer.analyze", "gpt5-analyzer"}};
  options_.task_routes = {{"pyapp.*", "py"}};
  options_.default_queue = "celery";
  const celery::CanvasContext ctx = publisher_.canvasContext();
  EXPECT_EQ(ctx.origin, "celeriac@test");
  EXPECT_EQ(ctx.route_for_task("gpt5_analyzer.analyze"), "gpt5-analyzer");
  EXPECT_EQ(ctx.route_for_task("pyapp.add"), "py");
  EXPECT_EQ(ctx.route_for_task("other"), std::nullopt);
  EXPECT_EQ(ctx.default_queue, "celery");
  const std::string a = ctx.new_id();
  EXPECT_EQ(a.size(), 36u);
  EXPECT_NE(a, ctx.new_id());
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline
