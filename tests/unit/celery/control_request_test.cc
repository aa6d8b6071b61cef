#include "worker/celery/control_request.h"

#include <gtest/gtest.h>

#include "control_event_captures.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

ControlRequest parsed(std::string_view text) {
  auto result = parseControlRequest(text);
  EXPECT_TRUE(result.ok()) << result.error().message;
  return result.valueOr(ControlRequest{});
}

ControlRequest withPattern(std::string pattern, std::string matcher) {
  ControlRequest request;
  request.method = "ping";
  request.pattern = std::move(pattern);
  request.matcher = std::move(matcher);
  return request;
}

TEST(ControlRequestTest, ParsesCapturedPingRequest) {
  const ControlRequest request = parsed(testing::kPingRequest);
  EXPECT_EQ(request.method, "ping");
  EXPECT_EQ(request.arguments, json::object());
  EXPECT_FALSE(request.destination);
  EXPECT_EQ(request.pattern, "");
  EXPECT_EQ(request.matcher, "");
  EXPECT_EQ(request.ticket, "14cd5122-ecd7-4bb0-8ee7-2f90690a292d");
  EXPECT_EQ(request.reply_exchange, "reply.celery.pidbox");
  EXPECT_EQ(request.reply_routing_key, "3241cc50-0ac2-3eeb-a907-88c1a9e13a31");
  EXPECT_TRUE(request.wantsReply());
  EXPECT_TRUE(addressedTo(request, "research1@vm"));
  EXPECT_TRUE(addressedTo(request, "anyone@else"));
}

TEST(ControlRequestTest, ParsesCapturedArguments) {
  const ControlRequest revoke = parsed(testing::kRevokeRequest);
  EXPECT_EQ(revoke.method, "revoke");
  EXPECT_EQ(revoke.arguments.at("task_id"), "research-revoked-id-1");
  EXPECT_EQ(revoke.arguments.at("terminate"), false);
  const ControlRequest rate = parsed(testing::kRateLimitRequest);
  EXPECT_EQ(rate.arguments.at("rate_limit"), "10/m");
}

TEST(ControlRequestTest, CapturedDestinationSelectsOnlyThatNode) {
  const ControlRequest request = parsed(testing::kPingDestinationRequest);
  ASSERT_TRUE(request.destination);
  EXPECT_EQ(*request.destination, std::vector<std::string>{"research1@vm"});
  EXPECT_TRUE(addressedTo(request, "research1@vm"));
  EXPECT_FALSE(addressedTo(request, "research2@vm"));
  EXPECT_FALSE(addressedTo(request, "research1"));  // whole names, not substrings
}

TEST(ControlRequestTest, EmptyDestinationMeansEveryoneAsInKombu) {
  const ControlRequest request =
      parsed(R"({"method": "ping", "destination": [], "reply_to": null})");
  EXPECT_FALSE(request.destination);
  EXPECT_TRUE(addressedTo(request, "w@h"));
  EXPECT_FALSE(request.wantsReply());  // a cast
}

TEST(ControlRequestTest, DestinationWinsOverPattern) {
  const ControlRequest request =
      parsed(R"({"method": "ping", "destination": ["a@h"], "pattern": "*", "matcher": "glob"})");
  EXPECT_FALSE(addressedTo(request, "b@h"));
}

TEST(ControlRequestTest, GlobMatchesTheWholeNameLikeFnmatch) {
  EXPECT_TRUE(addressedTo(withPattern("celery@*", "glob"), "celery@host.example"));
  EXPECT_TRUE(addressedTo(withPattern("w?@h", "glob"), "w1@h"));
  EXPECT_TRUE(addressedTo(withPattern("w[0-9]@h", "glob"), "w7@h"));
  EXPECT_TRUE(addressedTo(withPattern("*", "glob"), "a/b@.h"));  // * crosses / and .
  EXPECT_FALSE(addressedTo(withPattern("celery@", "glob"), "celery@host"));
  EXPECT_FALSE(addressedTo(withPattern("w[!0-9]@h", "glob"), "w7@h"));
  // Python's fnmatch has no escapes: a backslash is an ordinary character.
  EXPECT_TRUE(addressedTo(withPattern("w\\*@h", "glob"), "w\\x@h"));
}

TEST(ControlRequestTest, PcreIsReMatchAnchoredAtTheStartOnly) {
  EXPECT_TRUE(addressedTo(withPattern("celery@", "pcre"), "celery@host"));
  EXPECT_TRUE(addressedTo(withPattern("w\\d+@", "pcre"), "w12@host"));
  EXPECT_FALSE(addressedTo(withPattern("host", "pcre"), "celery@host"));
  EXPECT_TRUE(addressedTo(withPattern(".*host$", "pcre"), "celery@host"));
}

TEST(ControlRequestTest, BadPatternOrUnknownMatcherAddressesNobody) {
  EXPECT_FALSE(addressedTo(withPattern("([", "pcre"), "celery@host"));
  EXPECT_FALSE(addressedTo(withPattern("*", "regex"), "celery@host"));
}

TEST(ControlRequestTest, PatternWithoutMatcherAddressesEveryoneAsInKombu) {
  // kombu: `elif pattern and matcher:`; one of them alone selects nobody out.
  EXPECT_TRUE(addressedTo(withPattern("nomatch", ""), "celery@host"));
}

TEST(ControlRequestTest, ReplyWantedIffReplyToEvenWithoutTicket) {
  const ControlRequest request = parsed(
      R"({"method": "ping", "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "k"}})");
  EXPECT_TRUE(request.wantsReply());
  EXPECT_EQ(request.ticket, "");
  const ControlRequest cast = parsed(R"({"method": "shutdown", "ticket": "t"})");
  EXPECT_FALSE(cast.wantsReply());
  const ControlRequest broken =
      parsed(R"({"method": "ping", "reply_to": {"exchange": "reply.celery.pidbox"}})");
  EXPECT_FALSE(broken.wantsReply());
}

TEST(ControlRequestTest, NullArgumentsBecomeAnEmptyObject) {
  EXPECT_EQ(parsed(R"({"method": "ping", "arguments": null})").arguments, json::object());
  EXPECT_EQ(parsed(R"({"method": "ping"})").arguments, json::object());
}

TEST(ControlRequestTest, RejectsBodiesThatAreNotRequestsWithoutThrowing) {
  for (const char* bad :
       {"", "[]", "\"ping\"", "{}", R"({"method": 5})", R"({"method": "ping", "arguments": [1]})",
        R"({"method": "ping", "destination": 5})", R"({"method": "ping", "destination": [5]})",
        R"({"method": "ping", "pattern": 1, "matcher": "glob"})", "{not json"}) {
    const auto result = parseControlRequest(std::string_view(bad));
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_FALSE(result.error().message.empty()) << bad;
  }
}

TEST(ControlRequestTest, HugePcrePatternAddressesNobody) {
  EXPECT_FALSE(addressedTo(withPattern(std::string(100'000, '('), "pcre"), "celery@host"));
}

TEST(ControlRequestTest, ParsesFromStdStringAndFromJson) {
  const std::string body = testing::kRevokeRequest;  // the AMQP layer's body type
  const auto from_text = parseControlRequest(body);
  const auto from_json = parseControlRequestJson(json::parse(body));
  ASSERT_TRUE(from_text.ok());
  ASSERT_TRUE(from_json.ok());
  EXPECT_EQ(from_text->arguments, from_json->arguments);
  EXPECT_FALSE(parseControlRequestJson(json::array()).ok());
}

TEST(ControlRequestTest, RepliesHaveTheCapturedShape) {
  EXPECT_EQ(controlReply("research1@vm", controlOk("pong")), json::parse(testing::kPingReply));
  EXPECT_EQ(
      controlReply("research1@vm", controlOk("tasks research-revoked-id-1 flagged as revoked")),
      json::parse(testing::kRevokeReply));
  EXPECT_EQ(controlReply("research1@vm", nullptr), json::parse(testing::kHeartbeatReply));
  EXPECT_EQ(controlError("unknown task"), json::parse(R"({"error": "unknown task"})"));
}

TEST(ControlRequestTest, UnknownCommandRepliesKeyErrorRepr) {
  EXPECT_EQ(unknownCommandReply("frobnicate"),
            json::parse(R"J({"error": "KeyError('frobnicate')"})J"));
  // Python's repr switches quotes for a name holding a single quote.
  EXPECT_EQ(unknownCommandReply("it's"), json::parse(R"J({"error": "KeyError(\"it's\")"})J"));
}

}  // namespace
}  // namespace celeriac::worker::celery
