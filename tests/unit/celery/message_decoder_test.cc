// decodeMessage(): protocol variants and every malformed message we could think of.

#include "worker/celery/message_decoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "worker/celery/iso_time.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

constexpr const char* kEmbed =
    R"({"callbacks": null, "errbacks": null, "chain": null, "chord": null})";

// A protocol v2 message shaped like Celery 5.2.6's add.delay(2, 3).
RawMessage validRaw() {
  RawMessage raw;
  raw.content_type = "application/json";
  raw.content_encoding = "utf-8";
  raw.headers = {{"lang", "py"},         {"task", "rapp.add"},
                 {"id", "tid-1"},        {"shadow", nullptr},
                 {"eta", nullptr},       {"expires", nullptr},
                 {"group", nullptr},     {"group_index", nullptr},
                 {"retries", 0},         {"timelimit", {nullptr, nullptr}},
                 {"root_id", "tid-1"},   {"parent_id", nullptr},
                 {"argsrepr", "(2, 3)"}, {"kwargsrepr", "{}"},
                 {"origin", "gen1@vm"},  {"ignore_result", false}};
  raw.body = std::string("[[2, 3], {}, ") + kEmbed + "]";
  raw.correlation_id = "tid-1";
  raw.reply_to = "oid";
  raw.routing_key = "celery";
  return raw;
}

DecodeError errorOf(const RawMessage& raw) {
  const DecodeResult result = decodeMessage(raw);
  EXPECT_FALSE(result.ok()) << "decoded unexpectedly";
  return result.error;
}

TaskMessage taskOf(const RawMessage& raw) {
  const DecodeResult result = decodeMessage(raw);
  EXPECT_TRUE(result.ok()) << result.error.message;
  return result.task.value_or(TaskMessage{});
}

// Asserts the kind and that the message mentions `needle`; identity must be kept.
void expectError(const RawMessage& raw, DecodeErrorKind kind, const std::string& needle) {
  const DecodeError error = errorOf(raw);
  EXPECT_EQ(error.kind, kind) << error.message;
  EXPECT_NE(error.message.find(needle), std::string::npos) << error.message;
}

TEST(MessageDecoderTest, DecodesMinimalV2WithDefaults) {
  RawMessage raw;
  raw.content_type = "application/json";
  raw.headers = {{"task", "celeriac.echo"}, {"id", "x"}};  // Python needs only these two
  raw.body = "[[], {}, null]";
  const TaskMessage task = taskOf(raw);
  EXPECT_EQ(task.protocol, 2);
  EXPECT_EQ(task.retries, 0);
  EXPECT_TRUE(task.root_id.empty());
  EXPECT_FALSE(task.ignore_result);
  EXPECT_TRUE(task.callbacks.is_null());
  EXPECT_EQ(task.args, json::array());
}

TEST(MessageDecoderTest, NullOrMissingRetriesReadsZero) {
  RawMessage raw = validRaw();
  raw.headers["retries"] = nullptr;
  EXPECT_EQ(taskOf(raw).retries, 0);
  raw.headers.erase("retries");
  EXPECT_EQ(taskOf(raw).retries, 0);
  raw.headers["retries"] = 4;
  EXPECT_EQ(taskOf(raw).retries, 4);
}

TEST(MessageDecoderTest, EmbedMayBeNullOrMissKeys) {
  RawMessage raw = validRaw();
  raw.body = R"([[1], {"a": 1}, {"chain": []}])";
  const TaskMessage task = taskOf(raw);
  EXPECT_EQ(task.chain, json::array());  // last chain step: [] not null, as Celery sends
  EXPECT_TRUE(task.callbacks.is_null());
  EXPECT_EQ(task.kwargs, json({{"a", 1}}));
}

TEST(MessageDecoderTest, ParsesEtaAndExpires) {
  RawMessage raw = validRaw();
  raw.headers["eta"] = "2026-11-23T00:12:42.003651+00:00";
  raw.headers["expires"] = "2026-11-23T00:13:42Z";
  const TaskMessage task = taskOf(raw);
  EXPECT_EQ(task.eta, parseIsoTime("2026-11-23T00:12:42.003651+00:00"));
  EXPECT_EQ(task.expires, parseIsoTime("2026-11-23T00:13:42+00:00"));
}

// Found by tests/fuzz (message_decoder_fuzz, crashers/message_decoder/expires_year_0751):
// Python accepts any year from 1 to 9999; out of a system_clock's range it was UB.
TEST(MessageDecoderTest, AcceptsEtaAndExpiresInAnyPythonYear) {
  RawMessage raw = validRaw();
  raw.headers["eta"] = "9999-12-31T23:59:59.999999+00:00";
  raw.headers["expires"] = "0751-11-23T00:11:56Z";
  const TaskMessage task = taskOf(raw);
  using std::chrono::sys_days;
  using std::chrono::year;
  EXPECT_EQ(task.eta, std::chrono::system_clock::time_point(sys_days(year(2200) / 1 / 1)));
  EXPECT_EQ(task.expires, std::chrono::system_clock::time_point(sys_days(year(1900) / 1 / 1)));
}

TEST(MessageDecoderTest, KeepsCustomHeadersButDropsDeadLetterKeys) {
  RawMessage raw = validRaw();
  raw.headers["x_custom"] = "v";
  raw.headers["tenant"] = {{"id", 7}};
  raw.headers["x-death"] = json::array({{{"count", 1}}});
  raw.headers["x-first-death-queue"] = "celery";
  raw.headers["x-last-death-reason"] = "rejected";
  raw.headers["stamps"] = {{"s", "v"}};
  const TaskMessage task = taskOf(raw);
  EXPECT_EQ(task.custom_headers, json({{"x_custom", "v"}, {"tenant", {{"id", 7}}}}));
  EXPECT_EQ(task.stamps, json({{"s", "v"}}));
}

TEST(MessageDecoderTest, AcceptsContentTypeParametersAndEncodings) {
  RawMessage raw = validRaw();
  raw.content_type = "Application/JSON; charset=utf-8";
  for (const char* encoding : {"utf-8", "UTF8", "binary", "", "us-ascii"}) {
    raw.content_encoding = encoding;
    EXPECT_TRUE(decodeMessage(raw).ok()) << encoding;
  }
}

TEST(MessageDecoderTest, RefusesOtherContentTypesLikeKombu) {
  RawMessage raw = validRaw();
  raw.content_type = "application/x-msgpack";
  expectError(raw, DecodeErrorKind::kContentDisallowed,
              "untrusted content of type msgpack (application/x-msgpack)");
  raw.content_type = "text/plain";
  expectError(raw, DecodeErrorKind::kContentDisallowed, "content of type text/plain");
  raw.content_type = "";
  expectError(raw, DecodeErrorKind::kContentDisallowed, "application/data");
  EXPECT_EQ(errorOf(raw).task_id, "tid-1");
  EXPECT_EQ(errorOf(raw).task_name, "rapp.add");
}

TEST(MessageDecoderTest, RefusesUnknownContentEncoding) {
  RawMessage raw = validRaw();
  raw.content_encoding = "utf-16";
  expectError(raw, DecodeErrorKind::kContentDisallowed, "utf-16");
}

TEST(MessageDecoderTest, RejectsNonJsonBody) {
  RawMessage raw = validRaw();
  raw.body = "[[2, 3], {}, {";
  expectError(raw, DecodeErrorKind::kMalformedBody, "not valid JSON");
  raw.body = "\x80\x04garbage";
  expectError(raw, DecodeErrorKind::kMalformedBody, "not valid JSON");
  EXPECT_EQ(errorOf(raw).task_id, "tid-1");
}

TEST(MessageDecoderTest, RejectsEmptyBody) {
  RawMessage raw = validRaw();
  raw.body.clear();
  expectError(raw, DecodeErrorKind::kMalformedBody, "not valid JSON");
}

TEST(MessageDecoderTest, RejectsInvalidUtf8InsideStrings) {
  RawMessage raw = validRaw();
  raw.body = std::string("[[\"\xff\xfe\"], {}, null]");
  expectError(raw, DecodeErrorKind::kMalformedBody, "not valid JSON");
}

TEST(MessageDecoderTest, RejectsBodyThatIsNotAnArray) {
  RawMessage raw = validRaw();
  raw.body = R"("hello")";
  expectError(raw, DecodeErrorKind::kMalformedBody, "must be a JSON array");
  raw.body = R"({"kwargs": {}})";  // a dict without args is not hybrid either
  expectError(raw, DecodeErrorKind::kMalformedBody, "must be a JSON array");
}

TEST(MessageDecoderTest, RejectsTwoAndFourElementBodies) {
  // A 2-element body crashes a Python worker; we reject it with a reason.
  RawMessage raw = validRaw();
  raw.body = "[[2, 3], {}]";
  expectError(raw, DecodeErrorKind::kMalformedBody, "exactly 3 elements");
  raw.body = std::string("[[2, 3], {}, ") + kEmbed + ", 4]";
  expectError(raw, DecodeErrorKind::kMalformedBody, "got 4");
  raw.body = "[]";
  expectError(raw, DecodeErrorKind::kMalformedBody, "got 0");
}

TEST(MessageDecoderTest, RejectsEmbedOfWrongType) {
  RawMessage raw = validRaw();
  raw.body = "[[2, 3], {}, []]";
  expectError(raw, DecodeErrorKind::kMalformedBody, "embed");
  raw.body = "[[2, 3], {}, \"x\"]";
  expectError(raw, DecodeErrorKind::kMalformedBody, "embed");
}

TEST(MessageDecoderTest, RejectsEmbedEntriesOfWrongType) {
  RawMessage raw = validRaw();
  raw.body = R"([[], {}, {"callbacks": {"task": "x"}}])";
  expectError(raw, DecodeErrorKind::kInvalidTask, "callbacks");
  raw.body = R"([[], {}, {"chain": "x"}])";
  expectError(raw, DecodeErrorKind::kInvalidTask, "chain");
  raw.body = R"([[], {}, {"chord": []}])";
  expectError(raw, DecodeErrorKind::kInvalidTask, "chord");
}

TEST(MessageDecoderTest, RejectsArgsThatAreNotAList) {
  RawMessage raw = validRaw();
  raw.body = std::string("[\"23\", {}, ") + kEmbed + "]";
  expectError(raw, DecodeErrorKind::kInvalidTask, "args must be a list");
  raw.body = std::string("[null, {}, ") + kEmbed + "]";
  expectError(raw, DecodeErrorKind::kInvalidTask, "args must be a list");
}

TEST(MessageDecoderTest, RejectsKwargsThatAreNotAMapping) {
  RawMessage raw = validRaw();
  raw.body = std::string("[[], [], ") + kEmbed + "]";
  expectError(raw, DecodeErrorKind::kInvalidTask, "must be a mapping");
  raw.body = std::string("[[], null, ") + kEmbed + "]";
  expectError(raw, DecodeErrorKind::kInvalidTask, "must be a mapping");
}

TEST(MessageDecoderTest, RejectsBadEtaAndExpires) {
  RawMessage raw = validRaw();
  raw.headers["eta"] = "tomorrow";
  expectError(raw, DecodeErrorKind::kInvalidTask, "invalid eta 'tomorrow'");
  raw.headers["eta"] = 1795392027;
  expectError(raw, DecodeErrorKind::kInvalidTask, "'eta'");
  raw.headers["eta"] = nullptr;
  raw.headers["expires"] = "2026-02-30T00:00:00";
  expectError(raw, DecodeErrorKind::kInvalidTask, "invalid expires");
  EXPECT_EQ(errorOf(raw).task_id, "tid-1");
}

TEST(MessageDecoderTest, RejectsMissingOrEmptyId) {
  RawMessage raw = validRaw();
  raw.headers.erase("id");
  expectError(raw, DecodeErrorKind::kInvalidTask, "missing task id");
  EXPECT_TRUE(errorOf(raw).task_id.empty());
  EXPECT_EQ(errorOf(raw).task_name, "rapp.add");
  raw.headers["id"] = "";
  expectError(raw, DecodeErrorKind::kInvalidTask, "missing task id");
  raw.headers["id"] = 42;
  expectError(raw, DecodeErrorKind::kInvalidTask, "missing task id");
}

TEST(MessageDecoderTest, RejectsNullTaskHeader) {
  RawMessage raw = validRaw();
  raw.headers["task"] = nullptr;  // still v2 by detection (the key exists)
  expectError(raw, DecodeErrorKind::kInvalidTask, "missing task name");
}

TEST(MessageDecoderTest, RejectsWrongHeaderTypes) {
  const std::pair<const char*, json> cases[] = {
      {"retries", "1"},
      {"retries", -1},
      {"retries", 1.5},
      {"group_index", "0"},
      {"group", 5},
      {"root_id", json::array()},
      {"parent_id", 1},
      {"timelimit", 30},
      {"timelimit", {30}},
      {"timelimit", {30, 20, 10}},
      {"timelimit", {"30", nullptr}},
      {"timelimit", {-1, nullptr}},
      {"ignore_result", "yes"},
      {"stamps", "x"},
  };
  for (const auto& [key, value] : cases) {
    RawMessage raw = validRaw();
    raw.headers[key] = value;
    expectError(raw, DecodeErrorKind::kInvalidTask, key);
  }
}

TEST(MessageDecoderTest, ZeroTimeLimitMeansNoLimit) {
  RawMessage raw = validRaw();
  raw.headers["timelimit"] = {0, 2.5};
  const TaskMessage task = taskOf(raw);
  EXPECT_FALSE(task.time_limits.hard_s);
  EXPECT_EQ(task.time_limits.soft_s, std::optional<double>(2.5));
}

TEST(MessageDecoderTest, IgnoresDisplayOnlyFieldsOfWrongType) {
  RawMessage raw = validRaw();
  raw.headers["shadow"] = 3;
  raw.headers["argsrepr"] = json::array();
  EXPECT_TRUE(taskOf(raw).shadow.empty());
}

TEST(MessageDecoderTest, UnknownMessageWithoutTaskHeaderOrV1Body) {
  RawMessage raw = validRaw();
  raw.headers.erase("task");
  expectError(raw, DecodeErrorKind::kUnknownMessage, "unknown message");
  raw.headers = json::object();
  raw.body = R"({"id": "x", "args": []})";
  expectError(raw, DecodeErrorKind::kUnknownMessage, "unknown message");
}

TEST(MessageDecoderTest, AcceptsPythonNanAndInfinityTokens) {
  RawMessage raw = validRaw();
  raw.body = R"([[NaN, Infinity, -Infinity, "NaN", 1.5], {"x": NaN}, null])";
  const TaskMessage task = taskOf(raw);
  ASSERT_EQ(task.args.size(), 5u);
  EXPECT_TRUE(std::isnan(task.args[0].get<double>()));
  EXPECT_EQ(task.args[1].get<double>(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(task.args[2].get<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(task.args[3], "NaN");  // inside a string: untouched
  EXPECT_TRUE(std::isnan(task.kwargs.at("x").get<double>()));
}

TEST(MessageDecoderTest, NanTokensDoNotRescueOtherwiseBrokenJson) {
  RawMessage raw = validRaw();
  raw.body = "[[NaN], {}, null";
  expectError(raw, DecodeErrorKind::kMalformedBody, "not valid JSON");
  raw.body = "[[NaNa], {}, null]";
  expectError(raw, DecodeErrorKind::kMalformedBody, "not valid JSON");
  raw.body = "[[1], {NaN: 1}, null]";
  expectError(raw, DecodeErrorKind::kMalformedBody, "not valid JSON");
}

TEST(MessageDecoderTest, KeepsUnicodeIntact) {
  RawMessage raw = validRaw();
  raw.body =
      "[[\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80\", \"\\u00e9\\ud83d\\ude00\"], "
      "{\"cl\xc3\xa9\": \"\xe4\xb8\xad\"}, null]";
  const TaskMessage task = taskOf(raw);
  EXPECT_EQ(task.args[0], "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80");
  EXPECT_EQ(task.args[1], "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(task.kwargs.at("cl\xc3\xa9"), "\xe4\xb8\xad");
}

TEST(MessageDecoderTest, LeavesKombuTypedEnvelopesAsObjects) {
  RawMessage raw = validRaw();
  raw.body = R"([[{"__type__": "datetime", "__value__": "2026-11-23T00:00:00"}], {}, null])";
  EXPECT_EQ(taskOf(raw).args[0].at("__type__"), "datetime");
}

TEST(MessageDecoderTest, DecodeErrorsMapToPythonExceptions) {
  DecodeError error;
  error.message = "why";
  error.kind = DecodeErrorKind::kMalformedBody;
  EXPECT_EQ(exceptionForDecodeError(error).type, "DecodeError");
  EXPECT_EQ(exceptionForDecodeError(error).module, "kombu.exceptions");
  error.kind = DecodeErrorKind::kInvalidTask;
  EXPECT_EQ(exceptionForDecodeError(error).type, "InvalidTaskError");
  EXPECT_EQ(exceptionForDecodeError(error).module, "celery.exceptions");
  error.kind = DecodeErrorKind::kUnknownMessage;
  EXPECT_EQ(exceptionForDecodeError(error).type, "InvalidTaskError");
}

}  // namespace
}  // namespace celeriac::worker::celery
