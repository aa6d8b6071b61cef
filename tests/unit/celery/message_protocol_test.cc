// decodeMessage(): protocol v1 and hybrid bodies, and compressed bodies.

#include <gtest/gtest.h>

#include "celery_fixtures.h"
#include "worker/celery/body_inflater.h"
#include "worker/celery/iso_time.h"
#include "worker/celery/message_decoder.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using testing::readFixture;

// A v1 body captured from Celery 5.2.6 (task_protocol=1), with a callback.
constexpr const char* kV1Body = R"({"task": "rapp.show_req", "id": "47a7fe45-1",
  "args": [1, 2], "kwargs": {"z": 3}, "group": null, "group_index": null, "retries": 0,
  "eta": "2026-11-23T00:10:01.171123+00:00", "expires": "2026-11-23T00:11:56.171123+00:00",
  "utc": true, "callbacks": [{"task": "rapp.mul", "args": [2], "kwargs": {}, "options": {},
  "subtask_type": null, "immutable": false}], "errbacks": null, "timelimit": [null, null],
  "taskset": null, "chord": null})";

RawMessage jsonRaw(json headers, std::string body) {
  RawMessage raw;
  raw.content_type = "application/json";
  raw.content_encoding = "utf-8";
  raw.headers = std::move(headers);
  raw.body = std::move(body);
  raw.routing_key = "celery";
  return raw;
}

RawMessage compressedRaw(std::string body, const std::string& compression) {
  return jsonRaw({{"task", "rapp.add"}, {"id", "zid"}, {"compression", compression}},
                 std::move(body));
}

TEST(MessageProtocolTest, MapsV1DictBodyOntoTheSameFields) {
  const DecodeResult result = decodeMessage(jsonRaw(json::object(), kV1Body));
  ASSERT_TRUE(result.ok()) << result.error.message;
  const TaskMessage& task = *result.task;
  EXPECT_EQ(task.protocol, 1);
  EXPECT_EQ(task.id, "47a7fe45-1");
  EXPECT_EQ(task.task, "rapp.show_req");
  EXPECT_EQ(task.args, json::array({1, 2}));
  EXPECT_EQ(task.kwargs, json({{"z", 3}}));
  EXPECT_EQ(task.eta, parseIsoTime("2026-11-23T00:10:01.171123+00:00"));
  EXPECT_EQ(task.expires, parseIsoTime("2026-11-23T00:11:56.171123+00:00"));
  ASSERT_TRUE(task.callbacks.is_array());
  EXPECT_EQ(task.callbacks[0].at("task"), "rapp.mul");
  EXPECT_TRUE(task.chain.is_null());  // v1 has no chain
  EXPECT_TRUE(task.root_id.empty());  // nor root/parent ids
  EXPECT_TRUE(task.group_id.empty());
}

TEST(MessageProtocolTest, V1TasksetIsTheOldNameOfGroup) {
  json body = json::parse(kV1Body);
  body["taskset"] = "gid-1";
  const DecodeResult result = decodeMessage(jsonRaw(json::object(), body.dump()));
  ASSERT_TRUE(result.ok()) << result.error.message;
  EXPECT_EQ(result.task->group_id, "gid-1");
}

TEST(MessageProtocolTest, V1UtcFalseIsReadAsUtc) {
  json body = json::parse(kV1Body);
  body["utc"] = false;
  body["eta"] = "2026-11-23T00:10:01";
  const DecodeResult result = decodeMessage(jsonRaw(json::object(), body.dump()));
  ASSERT_TRUE(result.ok()) << result.error.message;
  EXPECT_EQ(result.task->eta, parseIsoTime("2026-11-23T00:10:01+00:00"));
}

TEST(MessageProtocolTest, V1DefaultsMissingArgsAndKwargs) {
  const DecodeResult result = decodeMessage(jsonRaw(json::object(), R"({"task": "t", "id": "i"})"));
  ASSERT_TRUE(result.ok()) << result.error.message;
  EXPECT_EQ(result.task->args, json::array());
  EXPECT_EQ(result.task->kwargs, json::object());
}

TEST(MessageProtocolTest, V1ErrorsCarryIdAndNameFromTheBody) {
  json body = json::parse(kV1Body);
  body["kwargs"] = json::array();
  const DecodeResult result = decodeMessage(jsonRaw(json::object(), body.dump()));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error.kind, DecodeErrorKind::kInvalidTask);
  EXPECT_EQ(result.error.task_id, "47a7fe45-1");
  EXPECT_EQ(result.error.task_name, "rapp.show_req");
}

TEST(MessageProtocolTest, V1WithoutIdIsInvalid) {
  const DecodeResult result = decodeMessage(jsonRaw(json::object(), R"({"task": "t"})"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error.kind, DecodeErrorKind::kInvalidTask);
}

TEST(MessageProtocolTest, HybridTakesArgsFromBodyAndLetsHeadersWin) {
  // celery hybrid_to_proto2: v2 header table + v1-style body dict with args.
  const json headers = {{"task", "rapp.add"}, {"id", "hid"}, {"retries", 2}, {"x_custom", 1}};
  const std::string body =
      R"({"task": "ignored", "id": "ignored", "args": [4], "kwargs": {"k": 1},
          "root_id": "root", "retries": 0, "errbacks": [{"task": "rapp.echo"}]})";
  const DecodeResult result = decodeMessage(jsonRaw(headers, body));
  ASSERT_TRUE(result.ok()) << result.error.message;
  const TaskMessage& task = *result.task;
  EXPECT_EQ(task.protocol, 2);
  EXPECT_EQ(task.id, "hid");
  EXPECT_EQ(task.task, "rapp.add");
  EXPECT_EQ(task.retries, 2);
  EXPECT_EQ(task.root_id, "root");  // from the body, no header said otherwise
  EXPECT_EQ(task.args, json::array({4}));
  EXPECT_EQ(task.kwargs, json({{"k", 1}}));
  EXPECT_EQ(task.errbacks[0].at("task"), "rapp.echo");
  EXPECT_EQ(task.custom_headers, json({{"x_custom", 1}}));
}

TEST(MessageProtocolTest, HybridRejectsKwargsThatAreNotAMapping) {
  const DecodeResult result =
      decodeMessage(jsonRaw({{"task", "t"}, {"id", "i"}}, R"({"args": [], "kwargs": 3})"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error.kind, DecodeErrorKind::kInvalidTask);
}

TEST(MessageProtocolTest, InflatesKombuZlibUnderEveryAlias) {
  for (const char* name : {"application/x-gzip", "gzip", "zlib", "Application/X-GZIP"}) {
    const DecodeResult result =
        decodeMessage(compressedRaw(readFixture("kombu_zlib_body.bin"), name));
    ASSERT_TRUE(result.ok()) << name << ": " << result.error.message;
    EXPECT_EQ(result.task->args, json::array({3, 3}));
  }
}

TEST(MessageProtocolTest, RejectsTruncatedCompressedBody) {
  const std::string whole = readFixture("kombu_zlib_body.bin");
  for (std::size_t keep :
       {std::size_t{0}, std::size_t{1}, std::size_t{2}, whole.size() / 2, whole.size() - 1}) {
    const DecodeResult result =
        decodeMessage(compressedRaw(whole.substr(0, keep), "application/x-gzip"));
    ASSERT_FALSE(result.ok()) << keep;
    EXPECT_EQ(result.error.kind, DecodeErrorKind::kMalformedBody) << keep;
    EXPECT_NE(result.error.message.find("cannot decompress"), std::string::npos);
    EXPECT_EQ(result.error.task_id, "zid");
  }
}

TEST(MessageProtocolTest, RejectsUncompressedBodyUnderGzipHeader) {
  const DecodeResult result = decodeMessage(compressedRaw("[[1], {}, null]", "application/x-gzip"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error.kind, DecodeErrorKind::kMalformedBody);
}

TEST(MessageProtocolTest, RejectsTrailingBytesAfterTheStream) {
  const DecodeResult result = decodeMessage(
      compressedRaw(readFixture("kombu_zlib_body.bin") + "junk", "application/x-gzip"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error.kind, DecodeErrorKind::kMalformedBody);
  EXPECT_NE(result.error.message.find("after the compressed stream"), std::string::npos);
}

TEST(MessageProtocolTest, RefusesZipBombAboveTheCap) {
  const DecodeResult result =
      decodeMessage(compressedRaw(readFixture("zlib_bomb_65mib.bin"), "application/x-gzip"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error.kind, DecodeErrorKind::kMalformedBody);
  EXPECT_NE(result.error.message.find("exceeds"), std::string::npos) << result.error.message;
}

TEST(MessageProtocolTest, InflateHonoursAGivenCap) {
  const std::string compressed = readFixture("kombu_zlib_body.bin");
  EXPECT_TRUE(inflateBody(compressed, 81).ok());  // the body is 81 bytes
  const auto too_large = inflateBody(compressed, 80);
  ASSERT_FALSE(too_large.ok());
  EXPECT_EQ(too_large.error().message, "inflated body exceeds 80 bytes");
}

TEST(MessageProtocolTest, RefusesUnsupportedCompressionWithAReason) {
  for (const char* name : {"application/x-bz2", "application/x-lzma", "application/zstd", "br"}) {
    const DecodeResult result = decodeMessage(compressedRaw("whatever", name));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error.kind, DecodeErrorKind::kContentDisallowed) << name;
    EXPECT_NE(result.error.message.find(name), std::string::npos) << result.error.message;
    EXPECT_EQ(result.error.task_id, "zid");
  }
}

TEST(MessageProtocolTest, RejectsNonStringCompressionHeader) {
  RawMessage raw = compressedRaw(readFixture("kombu_zlib_body.bin"), "x");
  raw.headers["compression"] = 1;
  const DecodeResult result = decodeMessage(raw);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error.kind, DecodeErrorKind::kMalformedBody);
}

}  // namespace
}  // namespace celeriac::worker::celery
