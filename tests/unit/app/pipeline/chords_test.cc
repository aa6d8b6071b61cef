// Chords (pipeline/chords.h), through the TaskPipeline with fake ports: a chord member
// reports its part after its result is stored and is acked only after that; the member
// completing the header publishes the body with the results, or fails it with
// ChordError and publishes the body's errbacks.

#include <optional>

#include "task_pipeline_fixture.h"

namespace celeriac::worker::app::pipeline_test {
namespace {

struct ChordCall {
  std::string group_id;
  std::string score;
  std::string part;
  std::function<void(ChordPartResult)> done;
};

class TaskPipelineChordTest : public TaskPipelineTest {
 protected:
  void makeWithChords() {
    PipelinePorts ports = fake_.ports();
    ports.chord_part = [this](std::string gid, std::string score, std::string part,
                              std::function<void(ChordPartResult)> done) {
      calls_.push_back({std::move(gid), std::move(score), std::move(part), std::move(done)});
    };
    ports.fetch_chord_leaves = [this](std::string group_id, std::vector<std::string> ids,
                                      std::function<void(std::vector<std::optional<std::string>>)>
                                          done) {
      fetched_groups_.push_back(std::move(group_id));
      fetched_.push_back(ids);
      std::vector<std::optional<std::string>> docs;
      for (const auto& id : ids) {
        docs.push_back(
            id == "c" && fetched_.size() < 2
                ? std::nullopt
                : std::optional<std::string>(json{{"status", "SUCCESS"}, {"result", id}}.dump()));
      }
      done(std::move(docs));
    };
    PipelineOptions options;
    options.prefetch = 8;
    pipeline_ = std::make_unique<TaskPipeline>(loop_, registry_, std::move(ports), options);
  }

  // A celeriac.echo chord member: group "g", the given index, body "body-id" with an
  // errback.
  amqp::Delivery member(const std::string& id, int index, json args) {
    amqp::Delivery d =
        delivery("celeriac.echo", id, args, {{"group", "g"}, {"group_index", index}});
    const json body = {{"task", "celeriac.echo"},
                       {"args", json::array()},
                       {"kwargs", json::object()},
                       {"options",
                        {{"task_id", "body-id"},
                         {"link_error", json::array({{{"task", "celeriac.echo"},
                                                      {"args", json::array()},
                                                      {"options", json::object()}}})}}},
                       {"subtask_type", nullptr},
                       {"immutable", false}};
    d.message.body =
        json::array(
            {args,
             json::object(),
             {{"callbacks", nullptr}, {"errbacks", nullptr}, {"chain", nullptr}, {"chord", body}}})
            .dump();
    return d;
  }

  void runMember(const std::string& id, int index, int value) {
    pipeline_->onDelivery(member(id, index, json::array({value})));
    loop_.runReady();
    fake_.completeAll();  // the member's own result is stored
  }

  std::vector<ChordCall> calls_;
  std::vector<std::vector<std::string>> fetched_;
  std::vector<std::string> fetched_groups_;
};

TEST_F(TaskPipelineChordTest, AMemberIsAckedOnlyAfterItsPartIsRecorded) {
  makeWithChords();
  runMember("m0", 0, 2);
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].group_id, "g");
  EXPECT_EQ(calls_[0].score, "0");
  EXPECT_EQ(calls_[0].part, R"([1, "m0", "SUCCESS", 2])");
  EXPECT_TRUE(fake_.acked.empty());
  calls_[0].done(ChordPartResult{});
  EXPECT_EQ(fake_.acked.size(), 1u);
  EXPECT_TRUE(fake_.published.empty());
}

TEST_F(TaskPipelineChordTest, TheCompletingMemberPublishesTheBodyWithTheResults) {
  makeWithChords();
  runMember("m1", 1, 4);
  ASSERT_EQ(calls_.size(), 1u);
  calls_[0].done(
      ChordPartResult{true, {R"([1, "m0", "SUCCESS", 2])", R"([1, "m1", "SUCCESS", 4])"}});
  ASSERT_EQ(fake_.published.size(), 1u);
  const amqp::OutgoingMessage& body = fake_.published[0].first;
  EXPECT_EQ(json::parse(body.body)[0], json::parse("[[2, 4]]"));
  EXPECT_EQ(body.headers.at("id"), "body-id");
  EXPECT_EQ(body.headers.at("parent_id"), "m1");
  EXPECT_TRUE(fake_.acked.empty());  // not before the broker confirmed the body
  fake_.published[0].second(true);
  EXPECT_EQ(fake_.acked.size(), 1u);
}

TEST_F(TaskPipelineChordTest, AFailedMemberFailsTheBodyWithChordErrorAndRunsItsErrbacks) {
  makeWithChords();
  runMember("m1", 1, 4);
  calls_[0].done(ChordPartResult{
      true,
      {R"([1, "m0", "FAILURE", {"exc_type": "ValueError", "exc_message": ["bad"], "exc_module": "builtins"}])",
       R"([1, "m1", "SUCCESS", 4])"}});
  ASSERT_EQ(fake_.published.size(), 1u);  // the body's errback, with the body's id
  EXPECT_EQ(json::parse(fake_.published[0].first.body)[0], json::array({"body-id"}));
  fake_.published[0].second(true);
  const FakePorts::Write* failure = fake_.lastFor("body-id");
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->doc.at("status"), "FAILURE");
  EXPECT_EQ(failure->doc.at("result").at("exc_type"), "ChordError");
  EXPECT_EQ(failure->doc.at("result").at("exc_message"),
            json::array({"Dependency m0 raised ValueError('bad')"}));
  EXPECT_TRUE(fake_.acked.empty());  // not before the body's FAILURE is stored
  fake_.completeAll();
  EXPECT_EQ(fake_.acked.size(), 1u);
}

TEST_F(TaskPipelineChordTest, AComplexHeaderWaitsForItsLeavesLikeJoinNative) {
  makeWithChords();
  runMember("m1", 1, 4);
  const std::string saved =
      R"({"result": [["g", null], [[["g2", null], [[["b", null], null], [["c", null], null]]],)"
      R"( [["a", null], null]]]})";
  ChordPartResult parts;
  parts.completed = true;
  parts.saved_group = saved;
  parts.saved_docs = {json{{"status", "SUCCESS"}, {"result", "b"}}.dump(), std::nullopt,
                      json{{"status", "SUCCESS"}, {"result", "a"}}.dump()};
  calls_[0].done(parts);
  EXPECT_TRUE(fake_.published.empty());  // "c" has no result yet
  loop_.advance(std::chrono::milliseconds(100));
  loop_.advance(std::chrono::milliseconds(100));
  ASSERT_EQ(fetched_.size(), 2u);
  EXPECT_EQ(fetched_[0], (std::vector<std::string>{"b", "c", "a"}));
  EXPECT_EQ(fetched_groups_, (std::vector<std::string>{"g", "g"}));  // its keys go once joined
  ASSERT_EQ(fake_.published.size(), 1u);
  EXPECT_EQ(json::parse(fake_.published[0].first.body)[0], json::parse(R"([[["b", "c"], "a"]])"));
}

// A chord celeriac applies itself (here the next chain step) whose header holds a chain
// ending in a group: like Python's apply_chord(), the header's GroupResult is saved
// before any member goes out, so the completer joins it and the body gets a nested list.
TEST_F(TaskPipelineChordTest, AComplexHeaderIsSavedBeforeItsMembersGoOut) {
  makeWithChords();
  std::vector<std::pair<std::string, std::int64_t>> sizes;
  std::vector<std::function<void()>> size_done;
  PipelinePorts ports = fake_.ports();
  ports.set_chord_size = [&](std::string gid, std::int64_t size, std::function<void()> done) {
    sizes.emplace_back(std::move(gid), size);
    size_done.push_back(std::move(done));
  };
  pipeline_ = std::make_unique<TaskPipeline>(loop_, registry_, std::move(ports), PipelineOptions{});
  const auto sig = [](const std::string& id, json args, const char* type = nullptr,
                      json kwargs = json::object()) {
    return json{{"task", type == nullptr ? "celeriac.echo" : std::string("celery.") + type},
                {"args", std::move(args)},
                {"kwargs", std::move(kwargs)},
                {"options", id.empty() ? json::object() : json{{"task_id", id}}},
                {"subtask_type", type == nullptr ? json(nullptr) : json(type)},
                {"immutable", true}};
  };
  const json inner =
      sig("", json::array(), "group",
          {{"tasks", json::array({sig("b", json::array()), sig("c", json::array())})}});
  const json header = json::array(
      {sig("", json::array(), "chain", {{"tasks", json::array({sig("a", {1}), inner})}}),
       sig("d", {3})});
  const json chord = sig("", json::array(), "chord",
                         {{"header", header}, {"body", sig("body-id", json::array())}});
  amqp::Delivery d = delivery("celeriac.echo", "first", json::array({0}));
  d.message.body = json::array({json::array({0}),
                                json::object(),
                                {{"callbacks", nullptr},
                                 {"errbacks", nullptr},
                                 {"chain", json::array({chord})},
                                 {"chord", nullptr}}})
                       .dump();
  pipeline_->onDelivery(std::move(d));
  loop_.runReady();
  ASSERT_EQ(sizes.size(), 1u);
  const std::string gid = sizes[0].first;
  EXPECT_EQ(sizes[0].second, 3);
  const FakePorts::Write* saved = nullptr;
  for (const FakePorts::Write& w : fake_.writes) {
    if (w.key == "celery-taskset-meta-" + gid) saved = &w;
  }
  ASSERT_NE(saved, nullptr);
  EXPECT_EQ(saved->doc,
            json::parse(R"({"result": [[")" + gid + R"(", null], [[[")" + gid +
                        R"(", [["a", null], null]], [[["b", null], null], [["c", null],)"
                        R"( null]]], [["d", null], null]]]})"));
  EXPECT_TRUE(fake_.published.empty());  // not before the size and the group are written
  size_done[0]();
  EXPECT_TRUE(fake_.published.empty());
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 2u);  // a (carrying the group as its chain) and d
  EXPECT_EQ(fake_.published[0].first.headers.at("id"), "a");
  EXPECT_EQ(fake_.published[1].first.headers.at("id"), "d");
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline_test
