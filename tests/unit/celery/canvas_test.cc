// Canvas follow-ups against the chain/link/link_error messages real Celery 5.2.6 put on
// a queue (schemas/fixtures/celery/q3.json), plus hand-made signatures for the options
// Python's capture does not exercise.

#include <gtest/gtest.h>

#include "celery_fixtures.h"
#include "worker/celery/canvas.h"
#include "worker/celery/iso_time.h"
#include "worker/celery/message_decoder.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using testing::loadQ3Captures;
using testing::rawFromCapture;

constexpr const char* kChainFirstId = "d57312ca-2569-42ca-ad3c-919c11cfd397";
constexpr const char* kChainMulId = "d7df0e29-29d7-45bd-9425-2cd6802e5a6d";
constexpr const char* kChainAddId = "fe716c2b-1368-407b-9762-01d67eac80b0";
constexpr const char* kLinkedTaskId = "6513787a-fb82-4509-83e8-15a38492ff1a";
constexpr const char* kClientReplyTo = "eccf357c-192a-3ff1-bb8c-c4d76937e36b";

// Capture indexes in q3.json.
constexpr std::size_t kChainCapture = 1;
constexpr std::size_t kLinkCapture = 2;

// What the AMQP layer would deliver for a message we published to the default exchange.
RawMessage rawFromOutbound(const OutboundMessage& message) {
  RawMessage raw;
  raw.content_type = message.content_type;
  raw.content_encoding = message.content_encoding;
  raw.headers = message.headers;
  raw.body = message.body;
  raw.correlation_id = message.correlation_id;
  raw.reply_to = message.reply_to;
  raw.priority = message.priority;
  raw.exchange = message.exchange;
  raw.routing_key = message.routing_key;
  return raw;
}

TaskMessage decodeOrFail(const RawMessage& raw) {
  const DecodeResult result = decodeMessage(raw);
  EXPECT_TRUE(result.ok()) << result.error.message;
  return result.task.value_or(TaskMessage{});
}

class CanvasTest : public ::testing::Test {
 protected:
  CanvasTest() {
    ctx_.origin = "celeriac@test";
    ctx_.now = *parseIsoTime("2026-01-02T03:04:05.000006+00:00");
    ctx_.new_id = [this] { return "generated-" + std::to_string(++ids_generated_); };
  }

  TaskMessage capture(std::size_t index) {
    return decodeOrFail(rawFromCapture(loadQ3Captures().at(index)));
  }

  static json bodyOf(const OutboundMessage& message) { return json::parse(message.body); }

  static json sig(const std::string& task, json args, json options = json::object(),
                  bool immutable = false) {
    return {{"task", task},       {"args", std::move(args)}, {"kwargs", json::object()},
            {"options", options}, {"subtask_type", nullptr}, {"immutable", immutable}};
  }

  OutboundMessage build(const json& signature, const json& prefix = json::array()) {
    auto message = messageForSignature(signature, prefix, "parent-id", "root-id", nullptr, ctx_);
    EXPECT_TRUE(message) << message.error().message;
    return message.valueOr(OutboundMessage{});
  }

  CanvasContext ctx_;
  int ids_generated_ = 0;
};

TEST_F(CanvasTest, CapturedChainFirstStepPublishesOnlyTheMulStep) {
  const TaskMessage first = capture(kChainCapture);
  const SuccessFollowUps follow = successFollowUps(first, 3, ctx_);

  EXPECT_TRUE(follow.errors.empty());
  ASSERT_EQ(follow.messages.size(), 1u);
  const OutboundMessage& mul = follow.messages[0];
  EXPECT_EQ(mul.task_id, kChainMulId);
  EXPECT_EQ(mul.correlation_id, kChainMulId);
  EXPECT_EQ(mul.reply_to, kClientReplyTo);
  EXPECT_EQ(mul.exchange, "");
  EXPECT_EQ(mul.routing_key, "celery");
  EXPECT_FALSE(mul.priority.has_value());
  EXPECT_EQ(mul.headers.at("task"), "rapp.mul");
  EXPECT_EQ(mul.headers.at("id"), kChainMulId);
  EXPECT_EQ(mul.headers.at("parent_id"), kChainFirstId);
  EXPECT_EQ(mul.headers.at("root_id"), kChainFirstId);
  EXPECT_EQ(mul.headers.at("retries"), 0);
  EXPECT_EQ(mul.headers.at("origin"), "celeriac@test");

  const json body = bodyOf(mul);
  EXPECT_EQ(body.at(0), json::array({3, 10}));
  EXPECT_EQ(body.at(1), json::object());
  const json& embed = body.at(2);
  ASSERT_EQ(embed.at("chain").size(), 1u);
  EXPECT_EQ(embed.at("chain")[0].at("task"), "rapp.add");
  EXPECT_EQ(embed.at("chain")[0].at("options").at("task_id"), kChainAddId);
  EXPECT_TRUE(embed.at("callbacks").is_null());
  EXPECT_TRUE(embed.at("errbacks").is_null());
  EXPECT_TRUE(embed.at("chord").is_null());

  EXPECT_EQ(follow.children,
            json::parse(R"([[["d7df0e29-29d7-45bd-9425-2cd6802e5a6d", null], null]])"));
  EXPECT_EQ(ids_generated_, 0) << "pre-assigned chain ids must be used";
}

TEST_F(CanvasTest, CapturedChainSecondStepPublishesImmutableAddToItsQueueWithEmptyChain) {
  const SuccessFollowUps first = successFollowUps(capture(kChainCapture), 3, ctx_);
  ASSERT_EQ(first.messages.size(), 1u);
  const TaskMessage mul = decodeOrFail(rawFromOutbound(first.messages[0]));

  const SuccessFollowUps second = successFollowUps(mul, 30, ctx_);
  EXPECT_TRUE(second.errors.empty());
  ASSERT_EQ(second.messages.size(), 1u);
  const OutboundMessage& add = second.messages[0];
  EXPECT_EQ(add.task_id, kChainAddId);
  EXPECT_EQ(add.headers.at("task"), "rapp.add");
  EXPECT_EQ(add.exchange, "");
  EXPECT_EQ(add.routing_key, "research_other");
  EXPECT_EQ(add.headers.at("parent_id"), kChainMulId);
  EXPECT_EQ(add.headers.at("root_id"), kChainFirstId);
  const json body = bodyOf(add);
  EXPECT_EQ(body.at(0), json::array({100, 1}));
  ASSERT_TRUE(body.at(2).at("chain").is_array()) << "the last step carries []";
  EXPECT_TRUE(body.at(2).at("chain").empty());
  EXPECT_EQ(
      second.children,
      json::array({json::parse(R"([["fe716c2b-1368-407b-9762-01d67eac80b0", null], null])")}));

  // The last step has nothing left to publish.
  const TaskMessage last = decodeOrFail(rawFromOutbound(add));
  const SuccessFollowUps third = successFollowUps(last, 101, ctx_);
  EXPECT_TRUE(third.messages.empty());
  EXPECT_TRUE(third.children.empty());
  EXPECT_TRUE(third.errors.empty());
}

TEST_F(CanvasTest, LinkCallbackGetsRetvalPrefixAndAFreshId) {
  const TaskMessage linked = capture(kLinkCapture);
  const SuccessFollowUps follow = successFollowUps(linked, 4, ctx_);

  ASSERT_EQ(follow.messages.size(), 1u);
  const OutboundMessage& mul = follow.messages[0];
  EXPECT_EQ(mul.headers.at("task"), "rapp.mul");
  EXPECT_EQ(mul.task_id, "generated-1");
  EXPECT_EQ(mul.headers.at("parent_id"), kLinkedTaskId);
  EXPECT_EQ(mul.headers.at("root_id"), kLinkedTaskId);
  EXPECT_TRUE(mul.headers.at("group").is_null()) << "a single callback is not a group";
  EXPECT_EQ(bodyOf(mul).at(0), json::array({4, 3}));
  EXPECT_EQ(mul.reply_to, "");
  EXPECT_EQ(follow.children, json::array({json::parse(R"([["generated-1", null], null])")}));
}

TEST_F(CanvasTest, TwoCallbacksFormAGroupWithOneSharedFreshGroupId) {
  TaskMessage task;
  task.id = "parent";
  task.root_id = "root";
  task.callbacks = json::array({sig("rapp.mul", {2}), sig("rapp.echo", json::array())});
  const SuccessFollowUps follow = successFollowUps(task, 7, ctx_);

  ASSERT_EQ(follow.messages.size(), 2u);
  const json group = follow.messages[0].headers.at("group");
  ASSERT_TRUE(group.is_string());
  EXPECT_EQ(follow.messages[1].headers.at("group"), group);
  EXPECT_NE(group, follow.messages[0].task_id);
  EXPECT_NE(group, follow.messages[1].task_id);
  EXPECT_NE(follow.messages[0].task_id, follow.messages[1].task_id);
  EXPECT_EQ(bodyOf(follow.messages[0]).at(0), json::array({7, 2}));
  EXPECT_EQ(bodyOf(follow.messages[1]).at(0), json::array({7}));
  for (const OutboundMessage& message : follow.messages) {
    EXPECT_EQ(message.headers.at("parent_id"), "parent");
    EXPECT_EQ(message.headers.at("root_id"), "root");
  }
  // Python adds the GroupResult, not its members, to the parent's children.
  const json expected = json::array({json::array(
      {json::array({group, nullptr}),
       json::array(
           {json::array({json::array({follow.messages[0].task_id, nullptr}), nullptr}),
            json::array({json::array({follow.messages[1].task_id, nullptr}), nullptr})})})});
  EXPECT_EQ(follow.children, expected);
}

TEST_F(CanvasTest, ErrbacksGetTheFailedIdAndAFreshGroup) {
  const TaskMessage failed = capture(kLinkCapture);
  const FailureFollowUps follow = failureFollowUps(failed, ctx_);

  EXPECT_TRUE(follow.errors.empty());
  EXPECT_TRUE(follow.remaining_chain_ids.empty());
  ASSERT_EQ(follow.errbacks.size(), 1u);
  const OutboundMessage& echo = follow.errbacks[0];
  EXPECT_EQ(echo.headers.at("task"), "rapp.echo");
  EXPECT_EQ(bodyOf(echo).at(0), json::array({kLinkedTaskId}));
  EXPECT_EQ(echo.headers.at("parent_id"), kLinkedTaskId);
  EXPECT_EQ(echo.headers.at("root_id"), kLinkedTaskId);
  ASSERT_TRUE(echo.headers.at("group").is_string()) << "even one errback is sent as a group";
  EXPECT_NE(echo.headers.at("group"), echo.task_id);
}

TEST_F(CanvasTest, FailureListsRemainingChainIdsAndPublishesNoStep) {
  const TaskMessage first = capture(kChainCapture);
  const FailureFollowUps follow = failureFollowUps(first, ctx_);

  EXPECT_TRUE(follow.errbacks.empty());
  EXPECT_TRUE(follow.errors.empty());
  EXPECT_EQ(follow.remaining_chain_ids, (std::vector<std::string>{kChainAddId, kChainMulId}));
}

TEST_F(CanvasTest, MissingRootIdMakesTheTaskItsOwnRoot) {
  TaskMessage task;
  task.id = "v1-task";
  task.chain = json::array({sig("rapp.mul", {2})});
  task.errbacks = json::array({sig("rapp.echo", json::array())});
  const SuccessFollowUps success = successFollowUps(task, 1, ctx_);
  ASSERT_EQ(success.messages.size(), 1u);
  EXPECT_EQ(success.messages[0].headers.at("root_id"), "v1-task");
  const FailureFollowUps failure = failureFollowUps(task, ctx_);
  ASSERT_EQ(failure.errbacks.size(), 1u);
  EXPECT_EQ(failure.errbacks[0].headers.at("root_id"), "v1-task");
}

TEST_F(CanvasTest, CountdownBecomesEtaFromNowAndNumericExpiresLikewise) {
  const OutboundMessage message =
      build(sig("rapp.add", {1}, {{"countdown", 10}, {"expires", 60.5}}));
  EXPECT_EQ(message.headers.at("eta"), "2026-01-02T03:04:15.000006+00:00");
  EXPECT_EQ(message.headers.at("expires"), "2026-01-02T03:05:05.500006+00:00");

  // A given ISO eta is normalised to UTC with six fraction digits (Celery <= 5.2 takes
  // fraction digits literally as microseconds).
  const OutboundMessage at = build(sig("rapp.add", {1}, {{"eta", "2026-01-02T04:00:00+01:00"}}));
  EXPECT_EQ(at.headers.at("eta"), "2026-01-02T03:00:00.000000+00:00");
  EXPECT_TRUE(at.headers.at("expires").is_null());

  // Python: a truthy countdown wins over eta; zero does not.
  const OutboundMessage both =
      build(sig("rapp.add", {1}, {{"countdown", 0}, {"eta", "2026-01-02T04:00:00Z"}}));
  EXPECT_EQ(both.headers.at("eta"), "2026-01-02T04:00:00.000000+00:00");
}

TEST_F(CanvasTest, OptionsBecomeHeadersPropertiesAndEmbed) {
  const json link = sig("rapp.mul", {3});
  const json options = {{"task_id", "fixed"},
                        {"time_limit", 30},
                        {"soft_time_limit", 20},
                        {"shadow", "nice-name"},
                        {"ignore_result", true},
                        {"priority", 7},
                        {"reply_to", "client-oid"},
                        {"group_id", "g1"},
                        {"group_index", 2},
                        {"link", link},
                        {"link_error", json::array({link})},
                        {"chord", link},
                        {"headers", {{"x_custom", "v"}, {"id", "hijack"}}}};
  const OutboundMessage message = build(sig("rapp.add", {1}, options));
  EXPECT_EQ(message.task_id, "fixed");
  EXPECT_EQ(message.correlation_id, "fixed");
  EXPECT_EQ(message.reply_to, "client-oid");
  EXPECT_EQ(message.priority, std::optional<std::uint8_t>(7));
  EXPECT_EQ(message.headers.at("timelimit"), json::array({30, 20}));
  EXPECT_EQ(message.headers.at("shadow"), "nice-name");
  EXPECT_EQ(message.headers.at("ignore_result"), true);
  EXPECT_EQ(message.headers.at("group"), "g1");
  EXPECT_EQ(message.headers.at("group_index"), 2);
  EXPECT_EQ(message.headers.at("x_custom"), "v");
  EXPECT_EQ(message.headers.at("id"), "fixed") << "custom headers never replace protocol keys";
  const json embed = bodyOf(message).at(2);
  EXPECT_EQ(embed.at("callbacks"), json::array({link})) << "a single link becomes a list";
  EXPECT_EQ(embed.at("errbacks"), json::array({link}));
  EXPECT_EQ(embed.at("chord"), link);
  EXPECT_EQ(ids_generated_, 0);
}

TEST_F(CanvasTest, RoutingFollowsQueueExchangeTaskRoutesThenDefault) {
  ctx_.route_for_task = [](const std::string& name) -> std::optional<std::string> {
    if (name == "rapp.routed") return "routed_q";
    return std::nullopt;
  };
  ctx_.default_queue = "fallback";

  const OutboundMessage queued = build(sig("rapp.routed", {}, {{"queue", "explicit"}}));
  EXPECT_EQ(queued.exchange, "");
  EXPECT_EQ(queued.routing_key, "explicit");

  const OutboundMessage exchanged =
      build(sig("rapp.add", {}, {{"exchange", "topic_ex"}, {"routing_key", "a.b"}}));
  EXPECT_EQ(exchanged.exchange, "topic_ex");
  EXPECT_EQ(exchanged.routing_key, "a.b");

  const OutboundMessage routed = build(sig("rapp.routed", {}));
  EXPECT_EQ(routed.exchange, "");
  EXPECT_EQ(routed.routing_key, "routed_q");

  const OutboundMessage fallback = build(sig("rapp.add", {}));
  EXPECT_EQ(fallback.routing_key, "fallback");
}

TEST_F(CanvasTest, BodyAlwaysHasThreeElementsAndAllFourEmbedKeys) {
  const OutboundMessage message = build(json{{"task", "rapp.bare"}});
  const json body = bodyOf(message);
  ASSERT_TRUE(body.is_array());
  ASSERT_EQ(body.size(), 3u);
  EXPECT_EQ(body.at(0), json::array());
  EXPECT_EQ(body.at(1), json::object());
  const json& embed = body.at(2);
  ASSERT_EQ(embed.size(), 4u);
  for (const char* key : {"callbacks", "errbacks", "chain", "chord"}) {
    EXPECT_TRUE(embed.contains(key)) << key;
  }
  for (const char* key :
       {"lang", "task", "id", "shadow", "eta", "expires", "group", "group_index", "retries",
        "timelimit", "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result"}) {
    EXPECT_TRUE(message.headers.contains(key)) << key;
  }
  EXPECT_EQ(message.headers.at("timelimit"), json::array({nullptr, nullptr}));
  // And our own decoder reads it back as the same task.
  const TaskMessage decoded = decodeOrFail(rawFromOutbound(message));
  EXPECT_EQ(decoded.task, "rapp.bare");
  EXPECT_EQ(decoded.parent_id, "parent-id");
  EXPECT_EQ(decoded.root_id, "root-id");
}

TEST_F(CanvasTest, ArgsReprIsPythonLike) {
  json signature = sig("rapp.add", json::array({1, "a", nullptr, true, 2.5}));
  signature["kwargs"] = {{"k", "it's"}, {"l", json::array({false})}};
  const OutboundMessage message = build(signature, json::array({"x\ny"}));
  EXPECT_EQ(message.headers.at("argsrepr"), "['x\\ny', 1, 'a', None, True, 2.5]");
  EXPECT_EQ(message.headers.at("kwargsrepr"), "{'k': \"it's\", 'l': [False]}");

  const OutboundMessage long_args = build(sig("rapp.add", json::array({std::string(3000, 'z')})));
  EXPECT_LE(long_args.headers.at("argsrepr").get<std::string>().size(), 1024u + 3u);
}

TEST_F(CanvasTest, MalformedSignaturesAreReportedNotThrown) {
  const std::pair<json, std::string> bad[] = {
      {json("not a signature"), "signature is not a JSON object"},
      {json{{"args", json::array()}}, "signature has no task name"},
      {json{{"task", "rapp.add"}, {"args", "1, 2"}}, "signature rapp.add: args is not a list"},
      {json{{"task", "rapp.add"}, {"kwargs", json::array()}},
       "signature rapp.add: kwargs is not a mapping"},
      {json{{"task", "rapp.add"}, {"options", {{"queue", 5}}}},
       "signature rapp.add: options.queue is not a string"},
      {json{{"task", "rapp.add"}, {"options", {{"eta", "tomorrow"}}}},
       "signature rapp.add: options.eta is not an ISO-8601 time"},
      {json{{"task", "celery.group"}, {"subtask_type", "group"}},
       "signature celery.group: nested canvas type \"group\" is not supported"},
  };
  for (const auto& [signature, why] : bad) {
    std::optional<common::Result<OutboundMessage>> message;  // Result has no empty state
    EXPECT_NO_THROW(
        message.emplace(messageForSignature(signature, json::array(), "p", "r", nullptr, ctx_)));
    ASSERT_TRUE(message.has_value()) << signature.dump();
    ASSERT_FALSE(*message) << signature.dump();
    EXPECT_EQ(message->error().message, why) << signature.dump();
  }

  // A bad callback is reported; the chain step still goes out.
  TaskMessage task;
  task.id = "t";
  task.callbacks = json::array({json{{"task", 42}}});
  task.chain = json::array({sig("rapp.mul", {2})});
  const SuccessFollowUps follow = successFollowUps(task, 1, ctx_);
  EXPECT_EQ(follow.errors.size(), 1u);
  ASSERT_EQ(follow.messages.size(), 1u);
  EXPECT_EQ(follow.messages[0].headers.at("task"), "rapp.mul");
}

TEST_F(CanvasTest, MissingIdGeneratorIsAnErrorNotACrash) {
  ctx_.new_id = nullptr;
  auto message = messageForSignature(sig("rapp.add", {}), json::array(), "", "", nullptr, ctx_);
  ASSERT_FALSE(message);
  EXPECT_FALSE(message.error().message.empty());
  const FailureFollowUps follow = failureFollowUps(capture(kLinkCapture), ctx_);
  EXPECT_TRUE(follow.errbacks.empty());
  EXPECT_EQ(follow.errors.size(), 1u);
}

}  // namespace
}  // namespace celeriac::worker::celery
