// ConfigLoader: the per-endpoint connection fields (http2, max_connections,
// max_streams_per_connection), and that every request built for an endpoint carries
// them to the transport (chat, embeddings, Anthropic, health probes alike go through
// withEndpointConnection in the codecs).

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "balancer/config_loader.h"
#include "config_error_of.h"
#include "providers/anthropic_codec.h"
#include "providers/open_ai_codec.h"
#include "providers/open_ai_embeddings_codec.h"

namespace celeriac::balancer {
namespace {

using testing::errorOf;

TEST(ConfigLoaderConnectionTest, ReadsHttp2AndTheConnectionLimits) {
  const auto cfg = ConfigLoader::fromYaml(R"(
endpoints:
  - {name: h2, url: "http://vllm:8000/v1", http2: true, max_connections: 4,
     max_streams_per_connection: 250}
  - {name: h1, url: "http://old:8000/v1", http2: false, max_connections: 64}
  - {name: auto, url: "https://api.example.com/v1"}
)")
                       .value();
  ASSERT_EQ(cfg.endpoints.size(), 3u);
  EXPECT_EQ(cfg.endpoints[0].http2, true);
  EXPECT_EQ(cfg.endpoints[0].max_connections, 4);
  EXPECT_EQ(cfg.endpoints[0].max_streams_per_connection, 250);
  EXPECT_EQ(cfg.endpoints[1].http2, false);
  EXPECT_EQ(cfg.endpoints[1].max_connections, 64);
  EXPECT_EQ(cfg.endpoints[1].max_streams_per_connection, 0);
  // Unset: HTTP/2 where TLS offers it, no limits.
  EXPECT_FALSE(cfg.endpoints[2].http2.has_value());
  EXPECT_EQ(cfg.endpoints[2].max_connections, 0);
  EXPECT_EQ(cfg.endpoints[2].max_streams_per_connection, 0);
}

TEST(ConfigLoaderConnectionTest, RejectsBadConnectionFieldsWithTheirPaths) {
  const std::string head = "endpoints:\n  - {name: a, url: \"http://a/v1\", ";
  EXPECT_EQ(errorOf(head + "http2: maybe}"), "endpoints[0].http2: must be true or false");
  EXPECT_EQ(errorOf(head + "max_connections: 0}"),
            "endpoints[0].max_connections: must be at least 1");
  EXPECT_EQ(errorOf(head + "max_connections: 1.5}"),
            "endpoints[0].max_connections: must be an integer");
  EXPECT_EQ(errorOf(head + "max_streams_per_connection: 0}"),
            "endpoints[0].max_streams_per_connection: must be at least 1");
  EXPECT_EQ(errorOf(head + "max_streams_per_connection: 2000000}"),
            "endpoints[0].max_streams_per_connection: must be at most 1000000");
  // Streams are an HTTP/2 notion: asking for them on an HTTP/1.1-only endpoint is a
  // mistake worth naming.
  EXPECT_EQ(errorOf(head + "http2: false, max_streams_per_connection: 10}"),
            "endpoints[0].max_streams_per_connection: needs HTTP/2 (this endpoint says "
            "http2: false)");
  EXPECT_EQ(errorOf(head + "http_2: true}"), "endpoints[0].http_2: unknown field");
}

TEST(ConfigLoaderConnectionTest, TheShippedExampleUsesHttp2ForOpenAi) {
  std::ifstream in(std::string(CELERIAC_SOURCE_DIR) + "/balancer/config/example.yaml");
  ASSERT_TRUE(in);
  std::stringstream text;
  text << in.rdbuf();
  const auto cfg = ConfigLoader::fromYaml(text.str()).value();
  EXPECT_EQ(cfg.endpoints.at(0).http2, true);
  EXPECT_EQ(cfg.endpoints.at(0).max_connections, 4);
  EXPECT_EQ(cfg.endpoints.at(0).max_streams_per_connection, 100);
  EXPECT_FALSE(cfg.endpoints.at(1).http2.has_value());
}

TEST(ConfigLoaderConnectionTest, EveryRequestToAnEndpointCarriesItsConnectionPolicy) {
  EndpointConfig ep;
  ep.base_url = "http://vllm:8000/v1";
  ep.http2 = true;
  ep.max_connections = 3;
  ep.max_streams_per_connection = 50;
  ChatRequest chat;
  chat.messages.push_back(ChatMessage::text("user", "hi"));
  const HttpConnectionPolicy want{HttpVersion::kHttp2, 3, 50};
  EXPECT_EQ(OpenAiCodec{}.buildRequest(chat, RequestSettings{"m", 10, {}}, ep, "k").connection,
            want);
  EXPECT_EQ(AnthropicCodec{}.buildRequest(chat, RequestSettings{"m", 10, {}}, ep, "k").connection,
            want);
  EmbeddingRequest emb;
  emb.input = {"x"};
  EXPECT_EQ(OpenAiEmbeddingsCodec{}.buildRequest(emb, "m", ep, "k").connection, want);

  ep.http2 = false;
  ep.max_streams_per_connection = 0;
  EXPECT_EQ(OpenAiCodec{}.buildRequest(chat, RequestSettings{"m", 10, {}}, ep, "k").connection,
            (HttpConnectionPolicy{HttpVersion::kHttp1, 3, 0}));
  ep.http2.reset();
  EXPECT_EQ(OpenAiCodec{}.buildRequest(chat, RequestSettings{"m", 10, {}}, ep, "k").connection,
            (HttpConnectionPolicy{HttpVersion::kAuto, 3, 0}));
}

}  // namespace
}  // namespace celeriac::balancer
