// Job packing (pipeline/job_packing.h): a waiting job's AMQP headers kept as one CBOR
// block and restored exactly, whatever kinds of value the AMQP layer handed over; and,
// through the TaskPipeline, packed only for a run that waits long and unpacked before
// settlement reads them.
#include "worker/app/pipeline/job_packing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "task_pipeline_fixture.h"
#include "worker/amqp/amqp_table.h"
#include "worker/celery/message_decoder.h"

namespace celeriac::worker::app::pipeline {
namespace {

using nlohmann::json;

// Every kind of value tableToJson() makes (amqp_table.cc), as Celery's headers and a
// client's own headers carry them.
json everyKindOfHeader() {
  return json{
      {"lang", "py"},
      {"task", "gpt5_analyzer.analyze"},
      {"id", "0b9b7f9e-6d3c-4b1f-9a57-2d1c3e4f5a6b"},
      {"shadow", nullptr},
      {"retries", 0},
      {"group_index", -3},
      {"timelimit", json::array({nullptr, 30.5})},
      {"ignore_result", false},
      {"x-big", std::numeric_limits<std::uint64_t>::max()},
      {"x-small", std::numeric_limits<std::int64_t>::min()},
      {"x-whole-float", 5.0},
      {"x-fraction", 0.1},
      {"x-bytes", std::string("\xff\xfe\x00raw", 6)},  // an AMQP byte string, not UTF-8
      {"x-table", json{{"nested", json::array({1, "two", json{{"three", true}}})}}},
      {"x-celeriac-parks", 2},
  };
}

Job jobWith(json headers) {
  Job job;
  job.delivery.message.headers = std::move(headers);
  return job;
}

TEST(JobPackingTest, PackedHeadersAreOneBlockAndTheTreeIsGone) {
  Job job = jobWith(everyKindOfHeader());
  packHeaders(job);
  EXPECT_TRUE(job.delivery.message.headers.is_null());
  EXPECT_FALSE(job.packed_headers.empty());
  const std::string as_text =
      everyKindOfHeader().dump(-1, ' ', false, json::error_handler_t::replace);
  EXPECT_LT(job.packed_headers.size(), as_text.size())
      << "CBOR should be smaller than the same headers as JSON text";
}

TEST(JobPackingTest, UnpackingRestoresEveryValueAndItsKind) {
  const json original = everyKindOfHeader();
  Job job = jobWith(original);
  packHeaders(job);
  unpackHeaders(job);
  const json& back = job.delivery.message.headers;
  EXPECT_EQ(back, original);
  EXPECT_EQ(back["x-bytes"].get<std::string>(), std::string("\xff\xfe\x00raw", 6));
  EXPECT_TRUE(back["x-whole-float"].is_number_float()) << "5.0 must not come back as 5";
  EXPECT_DOUBLE_EQ(back["x-fraction"].get<double>(), 0.1);
  EXPECT_TRUE(back["group_index"].is_number_integer());
  EXPECT_EQ(back["x-big"].get<std::uint64_t>(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(back["x-small"].get<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
  EXPECT_TRUE(job.packed_headers.empty());
  EXPECT_EQ(job.packed_headers.capacity(), std::string().capacity()) << "the block is freed";
}

TEST(JobPackingTest, AnIntegerThatComesBackUnsignedIsTheSameAmqpField) {
  // CBOR has no signed non-negative integer: 7 packed as a signed value returns unsigned.
  // Publishing writes both as the same signed 64-bit field, so a republished message is
  // the message that came.
  Job job = jobWith(json{{"retries", std::int64_t{7}}});
  ASSERT_TRUE(job.delivery.message.headers["retries"].is_number_integer());
  packHeaders(job);
  unpackHeaders(job);
  const amqp::TableBuilder before(json{{"retries", std::int64_t{7}}});
  const amqp::TableBuilder after(job.delivery.message.headers);
  ASSERT_EQ(after.table().num_entries, 1);
  EXPECT_EQ(after.table().entries[0].value.kind, before.table().entries[0].value.kind);
  EXPECT_EQ(after.table().entries[0].value.value.i64, 7);
}

TEST(JobPackingTest, PackingTwiceKeepsTheFirstPacking) {
  Job job = jobWith(everyKindOfHeader());
  packHeaders(job);
  const std::string first = job.packed_headers;
  packHeaders(job);  // headers are null now: must not pack "null" over the real ones
  EXPECT_EQ(job.packed_headers, first);
  unpackHeaders(job);
  EXPECT_EQ(job.delivery.message.headers, everyKindOfHeader());
}

TEST(JobPackingTest, NoHeadersOrAnEmptyTableStayAsTheyAre) {
  Job empty = jobWith(json::object());
  packHeaders(empty);
  EXPECT_TRUE(empty.packed_headers.empty());
  EXPECT_EQ(empty.delivery.message.headers, json::object());

  Job none = jobWith(nullptr);
  packHeaders(none);
  unpackHeaders(none);
  EXPECT_TRUE(none.delivery.message.headers.is_null());
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline

namespace celeriac::worker::app::pipeline_test {
namespace {

// The TaskPipeline fixture (task_pipeline_fixture.h); its own suite name.
class JobPackingPipelineTest : public TaskPipelineTest {
 public:
  using TaskPipelineTest::delivery;
};

// ---- A long wait (an LLM call): the job keeps its headers packed while it waits
// (pipeline/job_packing.h), and settlement still sees them as they came ------------------

// Wraps a run as one that waits long, as JsonLlmCall says it does.
class LongWait final : public tasks::TaskRun {
 public:
  explicit LongWait(std::unique_ptr<tasks::TaskRun> inner) : inner_(std::move(inner)) {}
  void cancel() override { inner_->cancel(); }
  [[nodiscard]] bool waitsLong() const override { return true; }

 private:
  std::unique_ptr<tasks::TaskRun> inner_;
};

// An LLM call that finds every model down after a 2 s wait.
std::unique_ptr<tasks::TaskRun> downAfterAWait(const tasks::TaskContext& ctx,
                                               tasks::TaskDone done) {
  return std::make_unique<LongWait>(tasks::TimerRun::start(
      ctx.dispatcher, seconds(2),
      tasks::Unavailable{"all candidates unavailable", std::nullopt, {"gpt-4o"}}, std::move(done)));
}

// A client's own headers of every kind, beside Celery's.
json clientHeaders() {
  return json{{"x-tenant", "acme"},
              {"x-weight", 0.25},
              {"x-count", -4},
              {"x-bytes", std::string("\xff\x00z", 3)},
              {"x-table", json{{"list", json::array({1, "a", nullptr, true})}}}};
}

TEST_F(JobPackingPipelineTest, ALongWaitKeepsItsHeadersPackedAndAQuickRunDoesNot) {
  registry_.add("llm.wait", &downAfterAWait);
  make();
  pipeline_->onDelivery(delivery("llm.wait", "w1", json::array(), clientHeaders()));
  pipeline_->onDelivery(delivery("celeriac.echo", "e1", json::array({1}), clientHeaders()));
  std::map<std::string, bool> packed;
  pipeline_->forEachActive([&](const TaskPipeline::JobView& j) {
    packed[j.message.id] = j.delivery.message.headers.is_null();
  });
  EXPECT_EQ(packed, (std::map<std::string, bool>{{"e1", false}, {"w1", true}}));
}

TEST_F(JobPackingPipelineTest, ALongWaitIsParkedWithEveryHeaderItCameWith) {
  registry_.add("llm.wait", &downAfterAWait);
  make();
  amqp::Delivery d = delivery("llm.wait", "w2", json::array(), clientHeaders());
  d.message.headers["x-celeriac-parks"] = 1;
  d.message.headers["x-celeriac-parked-since"] = isoIn(-seconds(30));
  const json came_with = d.message.headers;
  pipeline_->onDelivery(std::move(d));
  loop_.advance(seconds(2));
  fake_.completeAll();
  ASSERT_EQ(fake_.published.size(), 1u);
  json expected = came_with;
  expected["x-celeriac-parks"] = 2;
  expected["x-celeriac-park-reason"] = "all_models_unavailable";
  EXPECT_EQ(fake_.published[0].first.headers, expected)
      << "parked-since kept, the park counted on from 1, nothing else changed";
}

TEST_F(JobPackingPipelineTest, ALongWaitParkedTooLongStillReadsWhenItWasFirstParked) {
  registry_.add("llm.wait", &downAfterAWait);
  PipelineOptions o;
  o.max_parked = std::chrono::minutes(60);
  make(o);
  pipeline_->onDelivery(delivery(
      "llm.wait", "w3", json::array(),
      {{"x-celeriac-parks", 9}, {"x-celeriac-parked-since", isoIn(-std::chrono::minutes(61))}}));
  loop_.advance(seconds(2));
  const auto* w = fake_.lastFor("w3");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE") << "the packed parked-since must be read back";
  EXPECT_TRUE(fake_.published.empty());
}

// ---- The decoded message of a long wait: only what the wait reads is kept, the rest is
// decoded again before settlement and on demand for `inspect active` ----------------------

// A message with something in every part the packing drops.
amqp::Delivery richDelivery(JobPackingPipelineTest& t, const std::string& task,
                            const std::string& id) {
  amqp::Delivery d = t.delivery(task, id, json::array(), clientHeaders());
  d.message.headers["parent_id"] = "p-1";
  d.message.headers["origin"] = "gen1@api-7";
  d.message.headers["argsrepr"] = "('https://example.com/uploads/photo-123.jpg',)";
  d.message.headers["kwargsrepr"] = "{'locale': 'de'}";
  d.message.headers["timelimit"] = json::array({120, 60});
  d.message.headers["stamped_headers"] = json::array({"tenant"});
  d.message.headers["stamps"] = json{{"tenant", "acme"}};
  d.message.correlation_id = id;
  d.message.reply_to = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
  d.message.body = json::array({json::array({"https://example.com/uploads/photo-123.jpg"}),
                                json{{"locale", "de"}},
                                json{{"callbacks", json::array({json{{"task", "t.next"}}})}}})
                       .dump();
  return d;
}

TEST_F(JobPackingPipelineTest, APackedMessageKeepsWhatAWaitReadsAndUnpacksAsDecoded) {
  pipeline::Job job;
  job.delivery = richDelivery(*this, "llm.wait", "m1");
  celery::DecodeResult decoded = celery::decodeMessage(job.delivery.message);
  ASSERT_TRUE(decoded.ok()) << decoded.error.message;
  job.message = *decoded.task;
  const celery::TaskMessage whole = *decoded.task;

  pipeline::packJob(job);
  EXPECT_TRUE(job.message_packed);
  const celery::TaskMessage& kept = job.message;
  EXPECT_EQ(kept.id, "m1");
  EXPECT_EQ(kept.task, "llm.wait");
  EXPECT_EQ(kept.time_limits, whole.time_limits) << "a time limit hit reads them";
  EXPECT_EQ(kept.retries, whole.retries);
  for (const json* dropped : {&kept.args, &kept.kwargs, &kept.callbacks, &kept.custom_headers,
                              &kept.stamped_headers, &kept.stamps}) {
    EXPECT_TRUE(dropped->is_null()) << dropped->dump();
  }
  for (const std::string* dropped : {&kept.root_id, &kept.parent_id, &kept.origin, &kept.argsrepr,
                                     &kept.kwargsrepr, &kept.correlation_id, &kept.reply_to}) {
    EXPECT_TRUE(dropped->empty()) << *dropped;
    EXPECT_EQ(dropped->capacity(), std::string().capacity()) << "its block must be freed";
  }
  EXPECT_EQ(pipeline::wholeMessage(job), whole) << "inspect's view of a packed job";
  EXPECT_TRUE(job.message_packed) << "the view leaves the job packed";

  pipeline::unpackJob(job);
  EXPECT_FALSE(job.message_packed);
  EXPECT_EQ(job.message, whole);
  EXPECT_EQ(job.delivery.message.headers, richDelivery(*this, "llm.wait", "m1").message.headers);
}

TEST_F(JobPackingPipelineTest, InspectActiveShowsAPackedLongWaitAsItCame) {
  registry_.add("llm.wait", &downAfterAWait);
  make();
  pipeline_->onDelivery(richDelivery(*this, "llm.wait", "w4"));
  int seen = 0;
  pipeline_->forEachActive([&](const TaskPipeline::JobView& j) {
    ++seen;
    EXPECT_EQ(j.message.args, json::array({"https://example.com/uploads/photo-123.jpg"}));
    EXPECT_EQ(j.message.kwargs, (json{{"locale", "de"}}));
    EXPECT_EQ(j.message.argsrepr, "('https://example.com/uploads/photo-123.jpg',)");
    EXPECT_EQ(j.message.parent_id, "p-1");
    EXPECT_EQ(j.message.custom_headers["x-tenant"], "acme");
  });
  EXPECT_EQ(seen, 1);
}

TEST_F(JobPackingPipelineTest, LookingForOneIdDecodesOnlyThatWaitingJob) {
  // query_task names ids: the others are passed over on their kept id, not decoded.
  registry_.add("llm.wait", &downAfterAWait);
  make();
  pipeline_->onDelivery(richDelivery(*this, "llm.wait", "w6"));
  pipeline_->onDelivery(richDelivery(*this, "llm.wait", "w7"));
  std::vector<std::string> asked;
  std::vector<std::string> seen;
  pipeline_->forEachActive(
      [&](const TaskPipeline::JobView& j) {
        seen.push_back(j.message.id);
        EXPECT_EQ(j.message.parent_id, "p-1") << "the one wanted is shown whole";
      },
      [&](const std::string& id) {
        asked.push_back(id);
        return id == "w7";
      });
  EXPECT_EQ(seen, std::vector<std::string>{"w7"});
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<std::string>{"w6", "w7"})) << "asked on the kept ids";
}

// An LLM call that asks for a retry after a 2 s wait, with max_retries reached.
std::unique_ptr<tasks::TaskRun> retryAfterAWait(const tasks::TaskContext& ctx,
                                                tasks::TaskDone done) {
  return std::make_unique<LongWait>(
      tasks::TimerRun::start(ctx.dispatcher, seconds(2), tasks::Retry{}, std::move(done)));
}

TEST_F(JobPackingPipelineTest, ALongWaitSettlesWithItsWholeMessage) {
  registry_.add("llm.retry", &retryAfterAWait);
  make();
  amqp::Delivery d = richDelivery(*this, "llm.retry", "w5");
  d.message.headers["retries"] = 3;  // Celery's default max_retries
  d.message.headers.erase("argsrepr");
  d.message.headers.erase("kwargsrepr");
  pipeline_->onDelivery(std::move(d));
  loop_.advance(seconds(2));
  const auto* w = fake_.lastFor("w5");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->doc["status"], "FAILURE");
  EXPECT_EQ(w->doc["result"]["exc_message"],
            json::array({"Can't retry llm.retry[w5] args:('https://example.com/uploads/"
                         "photo-123.jpg',) kwargs:{'locale': 'de'}"}))
      << "the arguments are decoded again before settlement";
}

}  // namespace
}  // namespace celeriac::worker::app::pipeline_test
