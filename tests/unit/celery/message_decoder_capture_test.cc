// decodeMessage() against every task message real Celery 5.2.6 put on a queue
// (schemas/fixtures/celery/q3.json, captured from a real RabbitMQ queue).

#include <gtest/gtest.h>

#include "celery_fixtures.h"
#include "worker/celery/iso_time.h"
#include "worker/celery/message_decoder.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using testing::loadQ3Captures;
using testing::rawFromCapture;
using testing::readFixture;

class CapturedMessageTest : public ::testing::Test {
 protected:
  void SetUp() override { captures_ = loadQ3Captures(); }

  // Decodes capture `index` and fails the test when it does not decode.
  TaskMessage decoded(std::size_t index) {
    const DecodeResult result = decodeMessage(rawFromCapture(captures_.at(index)));
    EXPECT_TRUE(result.ok()) << "capture " << index << ": " << result.error.message;
    return result.task.value_or(TaskMessage{});
  }

  static json bodyOf(const json& capture) {
    return json::parse(capture.at("body").get<std::string>());
  }

  std::vector<json> captures_;
};

TEST_F(CapturedMessageTest, FixtureHoldsTheTenCapturedMessages) {
  ASSERT_EQ(captures_.size(), 10u);
}

TEST_F(CapturedMessageTest, EveryJsonCaptureDecodesWithHeadersAndBodyIntact) {
  for (std::size_t i = 0; i < captures_.size(); ++i) {
    const json& capture = captures_[i];
    const json& properties = capture.at("properties");
    if (properties.at("content_type") != "application/json") continue;
    if (properties.at("application_headers").contains("compression")) continue;
    SCOPED_TRACE("capture " + std::to_string(i));
    const json& headers = properties.at("application_headers");
    const TaskMessage task = decoded(i);
    const json body = bodyOf(capture);

    EXPECT_EQ(task.protocol, 2);
    EXPECT_EQ(task.id, headers.at("id"));
    EXPECT_EQ(task.task, headers.at("task"));
    EXPECT_EQ(task.root_id, headers.at("root_id"));
    EXPECT_TRUE(task.parent_id.empty());
    EXPECT_EQ(task.retries, headers.at("retries").get<int>());
    EXPECT_EQ(task.argsrepr, headers.at("argsrepr"));
    EXPECT_EQ(task.kwargsrepr, headers.at("kwargsrepr"));
    EXPECT_EQ(task.origin, headers.at("origin"));
    EXPECT_EQ(task.ignore_result, std::optional<bool>(false));
    EXPECT_FALSE(task.eta);
    EXPECT_FALSE(task.expires);
    EXPECT_EQ(task.args, body[0]);
    EXPECT_EQ(task.kwargs, body[1]);
    EXPECT_EQ(task.callbacks, body[2].at("callbacks"));
    EXPECT_EQ(task.errbacks, body[2].at("errbacks"));
    EXPECT_EQ(task.chain, body[2].at("chain"));
    EXPECT_EQ(task.chord, body[2].at("chord"));
    EXPECT_EQ(task.correlation_id, properties.at("correlation_id"));
    EXPECT_EQ(task.reply_to, properties.at("reply_to"));
    EXPECT_EQ(task.routing_key, "research_q3");
    EXPECT_EQ(task.exchange, "");
    EXPECT_TRUE(task.custom_headers.empty()) << task.custom_headers.dump();
  }
}

TEST_F(CapturedMessageTest, ShadowTimeLimitAndPriorityOfFirstCapture) {
  const TaskMessage task = decoded(0);
  EXPECT_EQ(task.id, "fixed-id-1");
  EXPECT_EQ(task.task, "rapp.add");
  EXPECT_EQ(task.shadow, "add-shadow");
  // timelimit [30, 20] is [hard, soft] (Celery's docs say the opposite).
  EXPECT_EQ(task.time_limits.hard_s, std::optional<double>(30));
  EXPECT_EQ(task.time_limits.soft_s, std::optional<double>(20));
  EXPECT_EQ(task.priority, std::optional<std::uint8_t>(5));
  EXPECT_EQ(task.args, json::array({1, 1}));
}

TEST_F(CapturedMessageTest, AbsentPriorityPropertyStaysAbsent) {
  const TaskMessage task = decoded(1);
  EXPECT_FALSE(task.priority);
  EXPECT_TRUE(task.shadow.empty());
  EXPECT_FALSE(task.time_limits.hard_s);
  EXPECT_FALSE(task.time_limits.soft_s);
}

TEST_F(CapturedMessageTest, ChainKeepsReversedOrderWithPreassignedIds) {
  const TaskMessage task = decoded(1);
  ASSERT_TRUE(task.chain.is_array());
  ASSERT_EQ(task.chain.size(), 2u);
  // Next step is the LAST element: mul(10), then the immutable add(100, 1).
  EXPECT_EQ(task.chain[1].at("task"), "rapp.mul");
  EXPECT_EQ(task.chain[1].at("options").at("task_id"), "d7df0e29-29d7-45bd-9425-2cd6802e5a6d");
  EXPECT_EQ(task.chain[1].at("immutable"), false);
  EXPECT_EQ(task.chain[0].at("task"), "rapp.add");
  EXPECT_EQ(task.chain[0].at("args"), json::array({100, 1}));
  EXPECT_EQ(task.chain[0].at("options").at("queue"), "research_other");
  EXPECT_EQ(task.chain[0].at("immutable"), true);
  EXPECT_TRUE(task.callbacks.is_null());
}

TEST_F(CapturedMessageTest, LinkAndLinkErrorLandInCallbacksAndErrbacks) {
  const TaskMessage task = decoded(2);
  ASSERT_TRUE(task.callbacks.is_array());
  ASSERT_EQ(task.callbacks.size(), 1u);
  EXPECT_EQ(task.callbacks[0].at("task"), "rapp.mul");
  EXPECT_EQ(task.callbacks[0].at("args"), json::array({3}));
  EXPECT_EQ(task.callbacks[0].at("options"), json::object());
  ASSERT_TRUE(task.errbacks.is_array());
  ASSERT_EQ(task.errbacks.size(), 1u);
  EXPECT_EQ(task.errbacks[0].at("task"), "rapp.echo");
  EXPECT_TRUE(task.chain.is_null());
}

TEST_F(CapturedMessageTest, GroupMembersCarryGroupIdWithoutIndex) {
  for (std::size_t i : {3u, 4u}) {
    const TaskMessage task = decoded(i);
    EXPECT_EQ(task.group_id, "2ae7553f-b34f-4f20-943d-dab2eff324d1");
    EXPECT_FALSE(task.group_index);
    EXPECT_TRUE(task.chord.is_null());
  }
}

TEST_F(CapturedMessageTest, ChordHeaderMembersCarryIndexAndBody) {
  for (std::size_t i : {5u, 6u}) {
    const TaskMessage task = decoded(i);
    EXPECT_EQ(task.group_id, "f515e7d1-f67b-4fe5-acfd-bb6c3fe44c08");
    EXPECT_EQ(task.group_index, std::optional<int>(static_cast<int>(i) - 5));
    ASSERT_TRUE(task.chord.is_object());
    EXPECT_EQ(task.chord.at("task"), "rapp.tsum");
    EXPECT_EQ(task.chord.at("options").at("task_id"), "9c1f6712-ccd9-4f42-b904-4ee5b37c7c75");
  }
}

TEST_F(CapturedMessageTest, PickleIsRefusedWithIdAndNameFromHeaders) {
  const DecodeResult result = decodeMessage(rawFromCapture(captures_.at(7)));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error.kind, DecodeErrorKind::kContentDisallowed);
  EXPECT_EQ(result.error.message,
            "Refusing to deserialize untrusted content of type pickle "
            "(application/x-python-serialize)");
  EXPECT_EQ(result.error.task_id, "a4183693-f260-40be-b685-a69d86bbc17f");
  EXPECT_EQ(result.error.task_name, "rapp.add");
}

TEST_F(CapturedMessageTest, YamlIsRefusedWithIdAndNameFromHeaders) {
  const DecodeResult result = decodeMessage(rawFromCapture(captures_.at(8)));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error.kind, DecodeErrorKind::kContentDisallowed);
  EXPECT_EQ(result.error.message,
            "Refusing to deserialize untrusted content of type yaml (application/x-yaml)");
  EXPECT_EQ(result.error.task_id, "f1e0fcc1-d363-433a-8664-be2b0a6a7fa8");
  EXPECT_EQ(result.error.task_name, "rapp.add");
}

TEST_F(CapturedMessageTest, RefusalMapsToKombuContentDisallowed) {
  const DecodeResult result = decodeMessage(rawFromCapture(captures_.at(7)));
  const ExceptionInfo exc = exceptionForDecodeError(result.error);
  EXPECT_EQ(exc.type, "ContentDisallowed");
  EXPECT_EQ(exc.module, "kombu.exceptions");
  EXPECT_EQ(exc.args, json::array({result.error.message}));
  EXPECT_TRUE(exc.omit_traceback);
}

TEST_F(CapturedMessageTest, GzipCaptureInflatesWithKombuBytes) {
  // The capture's body bytes were lost to a utf-8 decode; kombu_zlib_body.bin is the
  // same body compressed by kombu 5.2.4 (make_compressed_fixtures.py).
  RawMessage raw = rawFromCapture(captures_.at(9));
  ASSERT_EQ(raw.headers.at("compression"), "application/x-gzip");
  raw.body = readFixture("kombu_zlib_body.bin");
  const DecodeResult result = decodeMessage(raw);
  ASSERT_TRUE(result.ok()) << result.error.message;
  EXPECT_EQ(result.task->id, "e5dbd73d-290d-48b6-8be6-423f9000c55a");
  EXPECT_EQ(result.task->args, json::array({3, 3}));
  EXPECT_EQ(result.task->kwargs, json::object());
  EXPECT_TRUE(result.task->chain.is_null());
  // `compression` is Celery's own header, not a custom one.
  EXPECT_TRUE(result.task->custom_headers.empty());
}

TEST_F(CapturedMessageTest, GzipFramedBodyIsAcceptedUnderTheSameHeader) {
  RawMessage raw = rawFromCapture(captures_.at(9));
  raw.body = readFixture("gzip_framed_body.bin");
  const DecodeResult result = decodeMessage(raw);
  ASSERT_TRUE(result.ok()) << result.error.message;
  EXPECT_EQ(result.task->args, json::array({3, 3}));
}

TEST_F(CapturedMessageTest, LossyCapturedGzipBodyIsMalformedNotACrash) {
  const DecodeResult result = decodeMessage(rawFromCapture(captures_.at(9)));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error.kind, DecodeErrorKind::kMalformedBody);
  EXPECT_EQ(result.error.task_id, "e5dbd73d-290d-48b6-8be6-423f9000c55a");
}

}  // namespace
}  // namespace celeriac::worker::celery
