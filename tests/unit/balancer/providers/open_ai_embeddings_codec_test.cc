#include "providers/open_ai_embeddings_codec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace celeriac::balancer {
namespace {

using nlohmann::json;

EndpointConfig endpoint() {
  EndpointConfig ep;
  ep.name = "e";
  ep.base_url = "https://api.example/v1";
  ep.connect_timeout = std::chrono::milliseconds(1500);
  ep.total_timeout = std::chrono::milliseconds(9000);
  return ep;
}

EmbeddingRequest request(std::vector<std::string> input, std::optional<std::int64_t> dimensions,
                         std::string user) {
  EmbeddingRequest r;
  r.model = "ignored-the-attempt-names-the-model";
  r.input = std::move(input);
  r.dimensions = dimensions;
  r.user = std::move(user);
  return r;
}

std::string headerValue(const HttpRequest& http, const std::string& name) {
  for (const auto& h : http.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

TEST(OpenAiEmbeddingsCodecTest, SendsOneInputAsAString) {
  const HttpRequest http = OpenAiEmbeddingsCodec().buildRequest(
      request({"hello"}, std::nullopt, ""), "text-embedding-3-small", endpoint(), "sk-x");
  EXPECT_EQ(http.method, "POST");
  EXPECT_EQ(http.url, "https://api.example/v1/embeddings");
  EXPECT_EQ(headerValue(http, "Authorization"), "Bearer sk-x");
  EXPECT_EQ(headerValue(http, "Content-Type"), "application/json");
  EXPECT_EQ(http.connect_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(http.total_timeout, std::chrono::milliseconds(9000));
  EXPECT_EQ(json::parse(http.body),
            (json{{"model", "text-embedding-3-small"}, {"input", "hello"}}));
}

TEST(OpenAiEmbeddingsCodecTest, SendsSeveralInputsAsAnArrayWithDimensionsAndUser) {
  const HttpRequest http =
      OpenAiEmbeddingsCodec().buildRequest(request({"a", "b"}, 256, "u-1"), "m", endpoint(), "");
  EXPECT_EQ(headerValue(http, "Authorization"), "") << "keyless servers get no auth header";
  EXPECT_EQ(json::parse(http.body), (json{{"model", "m"},
                                          {"input", json::array({"a", "b"})},
                                          {"dimensions", 256},
                                          {"user", "u-1"}}));
}

TEST(OpenAiEmbeddingsCodecTest, ReadsVectorsInInputOrderWhateverTheDataOrder) {
  const auto out = OpenAiEmbeddingsCodec().parseResponse(R"({
    "object": "list",
    "data": [
      {"object": "embedding", "index": 1, "embedding": [0.5, -0.5]},
      {"object": "embedding", "index": 0, "embedding": [1, 0.25]}
    ],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8}
  })",
                                                         2);
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->vectors.size(), 2u);
  EXPECT_EQ(out->vectors[0], (std::vector<double>{1, 0.25}));
  EXPECT_EQ(out->vectors[1], (std::vector<double>{0.5, -0.5}));
  EXPECT_EQ(out->model, "text-embedding-3-small");
  ASSERT_TRUE(out->usage.has_value());
  EXPECT_EQ(out->usage->input_tokens, 8);
  EXPECT_EQ(out->usage->output_tokens, 0);
}

TEST(OpenAiEmbeddingsCodecTest, MissingUsageIsUnknownNotZero) {
  const auto out =
      OpenAiEmbeddingsCodec().parseResponse(R"({"data":[{"index":0,"embedding":[0.1]}]})", 1);
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(out->usage.has_value());
}

TEST(OpenAiEmbeddingsCodecTest, RejectsRepliesThatDoNotEmbedEveryInputExactlyOnce) {
  const char* bad[] = {
      "not json",
      R"([])",
      R"({"data":{}})",
      R"({"data":[{"index":0,"embedding":[0.1]}]})",                                 // 1 of 2
      R"({"data":[{"index":0,"embedding":[0.1]},{"index":0,"embedding":[0.2]}]})",   // twice
      R"({"data":[{"index":0,"embedding":[0.1]},{"index":2,"embedding":[0.2]}]})",   // range
      R"({"data":[{"index":0,"embedding":[0.1]},{"index":-1,"embedding":[0.2]}]})",  // sign
      R"({"data":[{"index":0,"embedding":[0.1]},{"index":1,"embedding":"AAAA"}]})",  // base64
      R"({"data":[{"index":0,"embedding":[0.1]},{"index":1,"embedding":[]}]})",
      R"({"data":[{"index":0,"embedding":[0.1]},{"index":1,"embedding":["x"]}]})",
      R"({"data":[{"index":0,"embedding":[0.1]},{"embedding":[0.2]}]})",
  };
  for (const char* body : bad) {
    EXPECT_FALSE(OpenAiEmbeddingsCodec().parseResponse(body, 2).has_value()) << body;
  }
}

TEST(OpenAiEmbeddingsCodecTest, OpenAiProvidersServeEmbeddingsAndAnthropicDoesNot) {
  EXPECT_NE(codecFor(Provider::kOpenAi).embeddings(), nullptr);
  EXPECT_EQ(codecFor(Provider::kAnthropic).embeddings(), nullptr);
}

TEST(OpenAiEmbeddingsCodecTest, InputTokenEstimateIsAboutFourCharactersPerTextWithoutOutput) {
  EmbeddingRequest r = request({"abcd", "abcde", "x"}, std::nullopt, "");
  EXPECT_EQ(estimateInputTokens(r), 1 + 2 + 1);
  r.estimated_prompt_tokens = 50;
  EXPECT_EQ(estimateInputTokens(r), 50) << "the caller's estimate wins";
}

}  // namespace
}  // namespace celeriac::balancer
