// ResultWriter (pipeline/result_writer.h): a result goes to celery-task-meta-<id>, counts
// as in flight until Redis answered, then `then` and the pipeline's pump run; the
// result_extended fields only when the worker has them on.

#include "worker/app/pipeline/result_writer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_loop.h"

namespace celeriac::worker::app::pipeline {
namespace {

class ResultWriterTest : public ::testing::Test {
 protected:
  ResultWriterTest() {
    ports_.store = [this](std::string key, std::string doc, std::function<void()> done) {
      keys_.push_back(key + " " + doc);
      pending_.push_back(std::move(done));
    };
  }

  testing::FakeDispatcher loop_;
  PipelinePorts ports_;
  PipelineOptions options_;
  PipelineCounters counters_;
  InFlight in_flight_;
  std::vector<std::string> keys_;
  std::vector<std::function<void()>> pending_;
  std::vector<std::string> order_;
  ResultWriter writer_{Context{loop_, ports_, options_, counters_, in_flight_},
                       [this] { order_.push_back("after_write"); }};
};

TEST_F(ResultWriterTest, StoresUnderTheResultKeyAndContinuesOnceDurable) {
  writer_.store("t1", R"({"status": "SUCCESS"})", [this] { order_.push_back("then"); });
  writer_.store("t2", "{}", nullptr);
  EXPECT_EQ(keys_, (std::vector<std::string>{R"(celery-task-meta-t1 {"status": "SUCCESS"})",
                                             "celery-task-meta-t2 {}"}));
  EXPECT_EQ(in_flight_.storing, 2u);
  EXPECT_TRUE(order_.empty());
  pending_[0]();
  EXPECT_EQ(in_flight_.storing, 1u);
  EXPECT_EQ(order_, (std::vector<std::string>{"then", "after_write"}));
  pending_[1]();
  EXPECT_EQ(in_flight_.storing, 0u);
  EXPECT_EQ(order_.size(), 3u);
}

TEST_F(ResultWriterTest, ExtendsRecordsOnlyWithResultExtended) {
  celery::TaskMessage message;
  message.id = "t";
  message.task = "celeriac.echo";
  celery::ResultRecord record;
  writer_.extend(record, message);
  EXPECT_FALSE(record.extended);
  options_.result_extended = true;
  options_.hostname = "celeriac@test";
  writer_.extend(record, message);
  EXPECT_TRUE(record.extended);
  EXPECT_EQ(record.worker, "celeriac@test");
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline
