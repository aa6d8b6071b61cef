// renderResultDocument() against every result document real Celery 5.2.6 PUBLISHed
// (schemas/fixtures/celery/rs1.jsonl): for each captured document we build the same
// record through our builders and compare field by field, then key order, then
// date_done separately (Celery 5.2 wrote naive UTC; we write +00:00).

#include <gtest/gtest.h>

#include <set>

#include "celery_fixtures.h"
#include "worker/celery/iso_time.h"
#include "worker/celery/result_document.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using std::chrono::system_clock;

// The request a Python worker had when it wrote `doc` (result_extended was on).
TaskMessage requestBehind(const json& doc) {
  TaskMessage task;
  task.id = doc.at("task_id").get<std::string>();
  task.task = doc.at("name").get<std::string>();
  task.args = doc.at("args");
  task.kwargs = doc.at("kwargs");
  task.retries = doc.at("retries").get<int>();
  task.parent_id = doc.value("parent_id", "");
  task.group_id = doc.value("group_id", "");
  task.routing_key = doc.at("queue").get<std::string>();
  return task;
}

ExceptionInfo exceptionIn(const json& result) {
  ExceptionInfo exc;
  exc.type = result.at("exc_type").get<std::string>();
  exc.module = result.at("exc_module").get<std::string>();
  exc.args = result.at("exc_message");
  return exc;
}

// Builds our record for the same event through the public builders.
ResultRecord ourRecordFor(const json& doc) {
  const TaskMessage task = requestBehind(doc);
  const json& result = doc.at("result");
  const std::string status = doc.at("status").get<std::string>();
  const system_clock::time_point done =
      doc.at("date_done").is_string() ? parseIsoTime(doc.at("date_done").get<std::string>()).value()
                                      : system_clock::time_point{};
  ResultRecord record;
  if (status == "STARTED") {
    record = startedRecord(task, result.at("pid").get<std::int64_t>(),
                           result.at("hostname").get<std::string>());
  } else if (status == "SUCCESS") {
    record = successRecord(task, result, done);
  } else if (status == "FAILURE") {
    record = failureRecord(task, exceptionIn(result), done);
  } else if (status == "RETRY") {
    record = retryRecord(task, exceptionIn(result));
  } else if (status == "REVOKED") {
    record = revokedRecord(task, result.at("exc_message").at(0).get<std::string>(), done);
  } else {
    ADD_FAILURE() << "unexpected status " << status;
  }
  // Python's chain/link children are published before SUCCESS is stored;
  // the caller passes them in, as our pipeline does.
  if (status == "SUCCESS") record.children = doc.at("children");
  extendRecord(record, task, doc.at("worker").get<std::string>());
  return record;
}

std::vector<std::string> keysOf(const ordered_json& object) {
  std::vector<std::string> keys;
  for (const auto& item : object.items()) keys.push_back(item.key());
  return keys;
}

// "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (no std::regex: GCC 12 + sanitizers warns inside it).
bool hasOurDateFormat(const std::string& text) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddddd+00:00";
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool ok = shape[i] == 'd' ? (text[i] >= '0' && text[i] <= '9') : text[i] == shape[i];
    if (!ok) return false;
  }
  return true;
}

std::string lastLine(const std::string& text) {
  const std::string trimmed = text.substr(0, text.find_last_not_of('\n') + 1);
  return trimmed.substr(trimmed.rfind('\n') + 1);
}

class CapturedResultTest : public ::testing::Test {
 protected:
  void SetUp() override { documents_ = testing::loadRs1Documents(); }
  std::vector<std::string> documents_;
};

TEST_F(CapturedResultTest, FixtureCoversEveryStoredState) {
  std::set<std::string> states;
  for (const std::string& text : documents_) states.insert(json::parse(text).at("status"));
  EXPECT_EQ(states, (std::set<std::string>{"STARTED", "SUCCESS", "FAILURE", "RETRY", "REVOKED"}));
  EXPECT_EQ(documents_.size(), 25u);
}

TEST_F(CapturedResultTest, EveryFieldMatchesCelery) {
  for (const std::string& text : documents_) {
    const json theirs = json::parse(text);
    SCOPED_TRACE(theirs.at("status").get<std::string>() + " " +
                 theirs.at("task_id").get<std::string>());
    const json ours = json::parse(renderResultDocument(ourRecordFor(theirs)));
    ASSERT_EQ(ours.size(), theirs.size()) << ours.dump();
    for (const auto& [key, value] : theirs.items()) {
      ASSERT_TRUE(ours.contains(key)) << key;
      if (key == "date_done" || key == "traceback") continue;  // checked below
      EXPECT_EQ(ours.at(key), value) << key;
    }
  }
}

TEST_F(CapturedResultTest, KeyOrderMatchesCelery) {
  for (const std::string& text : documents_) {
    const ordered_json theirs = ordered_json::parse(text);
    const ordered_json ours =
        ordered_json::parse(renderResultDocument(ourRecordFor(json::parse(text))));
    EXPECT_EQ(keysOf(ours), keysOf(theirs)) << text;
    // Exceptions and STARTED info keep Celery's inner order too.
    if (theirs.at("result").is_object() &&
        (theirs.at("result").contains("exc_type") || theirs.at("result").contains("pid"))) {
      EXPECT_EQ(keysOf(ours.at("result")), keysOf(theirs.at("result")));
    }
  }
}

TEST_F(CapturedResultTest, DateDoneIsNullExactlyWhereCeleryWroteNull) {
  for (const std::string& text : documents_) {
    const json theirs = json::parse(text);
    const json ours = json::parse(renderResultDocument(ourRecordFor(theirs)));
    if (theirs.at("date_done").is_null()) {
      EXPECT_TRUE(ours.at("date_done").is_null()) << text;
      continue;
    }
    const std::string ours_text = ours.at("date_done").get<std::string>();
    EXPECT_TRUE(hasOurDateFormat(ours_text)) << ours_text;
    // Same instant: Celery 5.2 wrote naive UTC ("2026-11-23T00:00:27.909514").
    EXPECT_EQ(parseIsoTime(ours_text), parseIsoTime(theirs.at("date_done").get<std::string>()));
    EXPECT_EQ(ours_text.substr(0, 26), theirs.at("date_done").get<std::string>());
  }
}

TEST_F(CapturedResultTest, TracebackPresenceMatchesAndEndsLikePython) {
  for (const std::string& text : documents_) {
    const json theirs = json::parse(text);
    const json ours = json::parse(renderResultDocument(ourRecordFor(theirs)));
    ASSERT_EQ(ours.at("traceback").is_null(), theirs.at("traceback").is_null()) << text;
    if (theirs.at("traceback").is_null()) continue;
    const std::string ours_text = ours.at("traceback").get<std::string>();
    EXPECT_EQ(ours_text.rfind("Traceback (most recent call last):\n", 0), 0u);
    // Python prints KeyError's argument with repr(); we print it plainly.
    if (theirs.at("result").at("exc_type") == "KeyError") continue;
    EXPECT_EQ(lastLine(ours_text), lastLine(theirs.at("traceback").get<std::string>()));
  }
}

}  // namespace
}  // namespace celeriac::worker::celery
