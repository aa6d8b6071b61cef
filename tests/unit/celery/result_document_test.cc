#include "worker/celery/result_document.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "worker/celery/iso_time.h"
#include "worker/celery/python_json.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using std::chrono::system_clock;

const system_clock::time_point kNow = parseIsoTime("2026-11-23T00:00:27.909514Z").value();

TaskMessage sampleTask() {
  TaskMessage task;
  task.id = "tid";
  task.task = "celeriac.echo";
  task.args = json::array({1});
  task.kwargs = json::object();
  task.routing_key = "gpt5-analyzer";
  return task;
}

std::vector<std::string> keysOf(const std::string& text) {
  const ordered_json doc = ordered_json::parse(text);  // must outlive the loop
  std::vector<std::string> keys;
  for (const auto& item : doc.items()) keys.push_back(item.key());
  return keys;
}

TEST(ResultDocumentTest, SuccessWithoutExtendedHasTheSixCoreFields) {
  const std::string text = renderResultDocument(successRecord(sampleTask(), {{"x", 1}}, kNow));
  EXPECT_EQ(keysOf(text), (std::vector<std::string>{"status", "result", "traceback", "children",
                                                    "date_done", "task_id"}));
  EXPECT_EQ(text, R"({"status":"SUCCESS","result":{"x":1},"traceback":null,"children":[],)"
                  R"("date_done":"2026-11-23T00:00:27.909514+00:00","task_id":"tid"})");
}

TEST(ResultDocumentTest, GroupAndParentIdsAppearOnlyWhenSetInCeleryOrder) {
  TaskMessage task = sampleTask();
  task.group_id = "gid";
  task.parent_id = "pid";
  ResultRecord record = successRecord(task, 5, kNow);
  extendRecord(record, task, "celeriac@host");
  EXPECT_EQ(keysOf(renderResultDocument(record)),
            (std::vector<std::string>{"status", "result", "traceback", "children", "date_done",
                                      "group_id", "parent_id", "name", "args", "kwargs", "worker",
                                      "retries", "queue", "task_id"}));
  const json doc = json::parse(renderResultDocument(record));
  EXPECT_EQ(doc.at("queue"), "gpt5-analyzer");
  EXPECT_EQ(doc.at("name"), "celeriac.echo");
}

TEST(ResultDocumentTest, ArgumentsAreCopiedIntoARecordOnlyWhenExtended) {
  // An analysis image may be megabytes: a plain SUCCESS record never copied-and-dropped it.
  TaskMessage task = sampleTask();
  task.args = json::array({std::string(1 << 20, 'x')});
  ResultRecord record = successRecord(task, 1, kNow);
  EXPECT_TRUE(record.args.is_null());
  extendRecord(record, task, "celeriac@host");
  EXPECT_EQ(record.args, task.args);
}

TEST(ResultDocumentTest, ExtendedNameIsTheTaskNotTheShadow) {
  TaskMessage task = sampleTask();
  task.shadow = "pretty-name";
  ResultRecord record = successRecord(task, 1, kNow);
  extendRecord(record, task, "celeriac@host");
  EXPECT_EQ(json::parse(renderResultDocument(record)).at("name"), "celeriac.echo");
}

TEST(ResultDocumentTest, DateDoneIsNullForStatesThatAreNotReady) {
  ResultRecord record = startedRecord(sampleTask(), 42, "celeriac@host");
  record.date_done = kNow;  // ignored: STARTED is not ready
  const json doc = json::parse(renderResultDocument(record));
  EXPECT_TRUE(doc.at("date_done").is_null());
  EXPECT_EQ(doc.at("result"), json({{"pid", 42}, {"hostname", "celeriac@host"}}));
}

TEST(ResultDocumentTest, FailureOfOwnErrorWritesAHonestTraceback) {
  const ExceptionInfo exc = makeException("LlmTimeout", "all models down", "celeriac.errors");
  const json doc = json::parse(renderResultDocument(failureRecord(sampleTask(), exc, kNow)));
  EXPECT_EQ(doc.at("status"), "FAILURE");
  EXPECT_EQ(doc.at("result"), json({{"exc_type", "LlmTimeout"},
                                    {"exc_message", {"all models down"}},
                                    {"exc_module", "celeriac.errors"}}));
  EXPECT_EQ(doc.at("traceback"),
            "Traceback (most recent call last):\n  celeriac task celeriac.echo [tid]\n"
            "celeriac.errors.LlmTimeout: all models down\n");
}

TEST(ResultDocumentTest, BuiltinErrorTracebackOmitsTheModuleAsPythonDoes) {
  const ExceptionInfo exc = makeException("ValueError", "bad value", "celeriac.errors");
  EXPECT_EQ(exc.module, "builtins");
  EXPECT_EQ(describeTraceback(sampleTask(), exc),
            "Traceback (most recent call last):\n  celeriac task celeriac.echo [tid]\n"
            "ValueError: bad value\n");
}

TEST(ResultDocumentTest, TracebackPrintsArgumentsLikeStrOfTheException) {
  const std::string head =
      "Traceback (most recent call last):\n  celeriac task celeriac.echo [tid]\n";
  ExceptionInfo exc{"Boom", "m", json::array(), "", false};
  EXPECT_EQ(describeTraceback(sampleTask(), exc), head + "m.Boom\n");
  exc.args = json::array({"a", 2});
  EXPECT_EQ(describeTraceback(sampleTask(), exc), head + "m.Boom: (\"a\", 2)\n");
  exc.args = json::array({json::array({1})});
  EXPECT_EQ(describeTraceback(sampleTask(), exc), head + "m.Boom: [1]\n");
}

TEST(ResultDocumentTest, GivenTracebackIsUsedVerbatim) {
  ExceptionInfo exc = makeException("RuntimeError", "x", "m");
  exc.traceback = "custom\n";
  const json doc = json::parse(renderResultDocument(failureRecord(sampleTask(), exc, kNow)));
  EXPECT_EQ(doc.at("traceback"), "custom\n");
}

TEST(ResultDocumentTest, CeleryOwnFailuresHaveNullTraceback) {
  for (const ExceptionInfo& exc :
       {notRegistered("x.y"), timeLimitExceeded(30), contentDisallowed("no")}) {
    const json doc = json::parse(renderResultDocument(failureRecord(sampleTask(), exc, kNow)));
    EXPECT_TRUE(doc.at("traceback").is_null()) << exc.type;
  }
}

TEST(ResultDocumentTest, NotRegisteredMatchesCelery) {
  const json doc =
      json::parse(renderResultDocument(failureRecord(sampleTask(), notRegistered("x.y"), kNow)));
  EXPECT_EQ(doc.at("result"), json({{"exc_type", "NotRegistered"},
                                    {"exc_message", {"x.y"}},
                                    {"exc_module", "celery.exceptions"}}));
}

TEST(ResultDocumentTest, RevokedCarriesReasonAndDateDone) {
  const json doc = json::parse(renderResultDocument(revokedRecord(sampleTask(), "revoked", kNow)));
  EXPECT_EQ(doc.at("status"), "REVOKED");
  EXPECT_EQ(doc.at("result").at("exc_message"), json::array({"revoked"}));
  EXPECT_EQ(doc.at("result").at("exc_type"), "TaskRevokedError");
  EXPECT_TRUE(doc.at("traceback").is_null());
  EXPECT_EQ(doc.at("date_done"), "2026-11-23T00:00:27.909514+00:00");
}

TEST(ResultDocumentTest, RetryWithoutExceptionHasNullResultAndItselfAsChild) {
  const json doc = json::parse(renderResultDocument(retryRecord(sampleTask(), std::nullopt)));
  EXPECT_EQ(doc.at("status"), "RETRY");
  EXPECT_TRUE(doc.at("result").is_null());
  EXPECT_TRUE(doc.at("traceback").is_null());
  EXPECT_EQ(doc.at("children"), json::parse(R"([[["tid", null], null]])"));
  EXPECT_TRUE(doc.at("date_done").is_null());
}

TEST(ResultDocumentTest, ResultTupleIsCeleryShape) {
  EXPECT_EQ(resultTuple("c1"), json::parse(R"([["c1", null], null])"));
}

// Celery's json (kombu) writes float('nan') as NaN and Python reads it back as nan; this
// test used to expect null, which is what nlohmann's dump() writes, not what Celery does.
TEST(ResultDocumentTest, NonFiniteResultRendersAsPythonWritesIt) {
  const std::string text = renderResultDocument(
      successRecord(sampleTask(), std::numeric_limits<double>::quiet_NaN(), kNow));
  EXPECT_NE(text.find(R"("result":NaN,)"), std::string::npos) << text;
  const auto doc = parsePythonJson(text);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_TRUE(std::isnan(doc->at("result").get<double>()));
}

TEST(ResultDocumentTest, ABigIntegerResultKeepsItsDigits) {
  const std::string digits = "1" + std::string(400, '0');
  const std::string text =
      renderResultDocument(successRecord(sampleTask(), makeBigInteger(digits), kNow));
  EXPECT_NE(text.find("\"result\":" + digits + ","), std::string::npos) << text;
}

TEST(ResultDocumentTest, InvalidUtf8InResultIsReplacedNotThrown) {
  const std::string text =
      renderResultDocument(successRecord(sampleTask(), std::string("ok\xff"), kNow));
  EXPECT_EQ(json::parse(text).at("result"), "ok\xef\xbf\xbd");
}

TEST(ResultDocumentTest, NullChildrenRenderAsEmptyList) {
  ResultRecord record = successRecord(sampleTask(), 1, kNow);
  record.children = nullptr;
  EXPECT_EQ(json::parse(renderResultDocument(record)).at("children"), json::array());
}

}  // namespace
}  // namespace celeriac::worker::celery
