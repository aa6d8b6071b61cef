#include "providers/provider_codec.h"

#include <gtest/gtest.h>

#include "balancer/shared_bucket_store.h"
#include "providers/anthropic_codec.h"
#include "providers/open_ai_codec.h"
#include "providers/rate_limit_info.h"

namespace celeriac::balancer {
namespace {

using nlohmann::json;

ChatRequest visionRequest() {
  ChatRequest r;
  r.messages = {ChatMessage::text("system", "You classify waste."),
                {"user",
                 {ContentPart::textPart("What is this?"),
                  ContentPart::imagePart("data:image/png;base64,AAAA", "high")}}};
  r.response_format = json{{"type", "json_object"}};
  return r;
}

EndpointConfig endpoint(Provider p) {
  EndpointConfig ep;
  ep.name = "e";
  ep.base_url = "https://api.example/v1";
  ep.provider = p;
  ep.max_tokens = 300;
  ep.temperature = 0.7;
  return ep;
}

TEST(OpenAiCodecTest, BuildsChatCompletionWithImagePartsAndEndpointDefaults) {
  const auto ep = endpoint(Provider::kOpenAi);
  const auto req = visionRequest();
  const auto http =
      OpenAiCodec().buildRequest(req, resolveSettings(req, ep, "gpt-4.1", 1024), ep, "sk-x");
  EXPECT_EQ(http.url, "https://api.example/v1/chat/completions");
  EXPECT_EQ(findHeader(http.headers, "authorization")->value, "Bearer sk-x");
  const json body = json::parse(http.body);
  EXPECT_EQ(body["model"], "gpt-4.1");
  EXPECT_EQ(body["max_tokens"], 300);
  EXPECT_DOUBLE_EQ(body["temperature"].get<double>(), 0.7);
  EXPECT_EQ(body["response_format"]["type"], "json_object");
  EXPECT_EQ(body["messages"][0]["content"], "You classify waste.");
  EXPECT_EQ(body["messages"][1]["content"][1]["type"], "image_url");
  EXPECT_EQ(body["messages"][1]["content"][1]["image_url"]["detail"], "high");
}

TEST(OpenAiCodecTest, RequestValuesOverrideEndpointDefaults) {
  auto req = visionRequest();
  req.max_tokens = 50;
  req.temperature = 0.0;
  const auto s = resolveSettings(req, endpoint(Provider::kOpenAi), "m", 1024);
  EXPECT_EQ(s.max_tokens, 50);
  EXPECT_EQ(s.temperature, 0.0);
}

TEST(OpenAiCodecTest, ParsesContentUsageAndModel) {
  const auto c = OpenAiCodec().parseResponse(
      R"({"model":"gpt-4.1-2025","choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],)"
      R"("usage":{"prompt_tokens":12,"completion_tokens":3}})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->content, "hi");
  EXPECT_EQ(c->model, "gpt-4.1-2025");
  EXPECT_EQ(c->usage->input_tokens, 12);
  EXPECT_EQ(c->usage->output_tokens, 3);
}

TEST(OpenAiCodecTest, MalformedBodiesAreRejectedAndMissingUsageIsUnknown) {
  EXPECT_FALSE(OpenAiCodec().parseResponse("not json"));
  EXPECT_FALSE(OpenAiCodec().parseResponse(R"({"choices":[]})"));
  const auto c = OpenAiCodec().parseResponse(R"({"choices":[{"message":{"content":"x"}}]})");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->usage);
  EXPECT_EQ(OpenAiCodec().errorMessage(R"({"error":{"message":"nope"}})"), "nope");
}

TEST(AnthropicCodecTest, BuildsMessagesWithSystemFieldAndBase64Image) {
  const auto ep = endpoint(Provider::kAnthropic);
  const auto req = visionRequest();
  const auto http = AnthropicCodec().buildRequest(
      req, resolveSettings(req, ep, "claude-sonnet-4", 1024), ep, "ak");
  EXPECT_EQ(http.url, "https://api.example/v1/messages");
  EXPECT_EQ(findHeader(http.headers, "x-api-key")->value, "ak");
  EXPECT_EQ(findHeader(http.headers, "anthropic-version")->value, "2023-06-01");
  const json body = json::parse(http.body);
  EXPECT_EQ(body["system"], "You classify waste.");
  ASSERT_EQ(body["messages"].size(), 1u);
  const json& img = body["messages"][0]["content"][1];
  EXPECT_EQ(img["type"], "image");
  EXPECT_EQ(img["source"]["type"], "base64");
  EXPECT_EQ(img["source"]["media_type"], "image/png");
  EXPECT_EQ(img["source"]["data"], "AAAA");
  EXPECT_EQ(body["max_tokens"], 300);
  EXPECT_FALSE(body.contains("response_format"));
}

TEST(AnthropicCodecTest, ParsesTextBlocksAndUsage) {
  const auto c = AnthropicCodec().parseResponse(
      R"({"model":"claude-sonnet-4","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],)"
      R"("stop_reason":"end_turn","usage":{"input_tokens":7,"output_tokens":2}})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->content, "ab");
  EXPECT_EQ(c->usage->total(), 9);
  EXPECT_EQ(AnthropicCodec().errorMessage(
                R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"),
            "Overloaded");
}

// Found while writing tests/fuzz/provider_codec_fuzz (crashers/provider_codec/): a block
// whose "type" is not a string threw nlohmann's type_error out of parseResponse, which
// the Balancer calls with no try, on whatever the server sent.
TEST(AnthropicCodecTest, SkipsBlocksWhoseTypeIsNotAString) {
  const auto c = AnthropicCodec().parseResponse(
      R"({"content":[{"type":1,"text":"x"},{"type":null},{"text":"y"},{"type":"text","text":"a"}]})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->content, "a");
}

TEST(SharedBucketStoreTest, KeysAreHashTaggedAndScriptUsesServerTime) {
  EXPECT_EQ(sharedBucketTag("openai-0", "gpt-4.1"), "{celeriac:key:openai-0:gpt-4.1}");
  EXPECT_NE(kSharedBucketScript.find("redis.call('TIME')"), std::string_view::npos);
}

TEST(PromptEstimateTest, CountsTextAndImages) {
  ChatRequest r = visionRequest();
  EXPECT_GT(estimatePromptTokens(r), 765);
  r.estimated_prompt_tokens = 42;
  EXPECT_EQ(estimatePromptTokens(r), 42);
}

// A data: URL of megabytes is held once however often the request is copied
// (into the balancer's call, kept by the task for a repair turn), and still encoded.
TEST(ChatRequestTest, CopiesShareTheImageBytesInsteadOfCopyingThem) {
  ChatRequest original;
  original.model = "gpt-4o";
  original.messages = {
      ChatMessage{"user",
                  {ContentPart::textPart("what is it?"),
                   ContentPart::imagePart("data:image/png;base64," + std::string(4u << 20, 'A'))}}};
  const ChatRequest copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(copy.messages[0].parts[1].url.str().data(),
            original.messages[0].parts[1].url.str().data());
  EXPECT_EQ(copy.messages[0].parts[1].url.str().size(), (4u << 20) + 22);
  EXPECT_TRUE(ContentPart{}.url.str().empty());
}

}  // namespace
}  // namespace celeriac::balancer
