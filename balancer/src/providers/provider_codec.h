#pragma once
// ProviderCodec: building one provider's HTTP request and reading its reply.
//
// For: the wire format of a provider (URL path, auth headers, JSON body, usage fields,
// error messages), per API it serves. Implementations: OpenAiCodec (chat completions,
// also for vLLM, DeepSeek, Gemini's OpenAI endpoint; embeddings through
// OpenAiEmbeddingsCodec) and AnthropicCodec (Messages API; no embeddings API). The
// Balancer runs one call loop for every API and asks the codec only here. Not for:
// deciding what a status means (FailureClass) or rate-limit headers (RateLimitInfo).
// Stateless; `codecFor` returns process-lifetime singletons.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "balancer/chat_request.h"
#include "balancer/config.h"
#include "balancer/embedding_request.h"
#include "balancer/http_transport.h"

namespace celeriac::balancer {

// The values that go into one request after defaults are applied.
struct RequestSettings {
  std::string model;
  std::int64_t max_tokens = 0;
  std::optional<double> temperature;
};

// One provider's embeddings API (POST {base}/embeddings for OpenAI and its kin).
class EmbeddingsCodec {
 public:
  virtual ~EmbeddingsCodec() = default;

  // `api_key` may be empty (keyless local servers): no auth header is sent then.
  [[nodiscard]] virtual HttpRequest buildRequest(const EmbeddingRequest& request,
                                                 std::string_view model,
                                                 const EndpointConfig& endpoint,
                                                 std::string_view api_key) const = 0;

  // nullopt unless a 2xx body holds one vector per input (the caller classes kMalformed).
  [[nodiscard]] virtual std::optional<Embeddings> parseResponse(std::string_view body,
                                                                std::size_t input_count) const = 0;
};

class ProviderCodec {
 public:
  virtual ~ProviderCodec() = default;

  // `api_key` may be empty (keyless local servers): no auth header is sent then.
  [[nodiscard]] virtual HttpRequest buildRequest(const ChatRequest& request,
                                                 const RequestSettings& settings,
                                                 const EndpointConfig& endpoint,
                                                 std::string_view api_key) const = 0;

  // nullopt when a 2xx body is not the expected JSON (the caller classes it kMalformed).
  [[nodiscard]] virtual std::optional<ChatCompletion> parseResponse(
      std::string_view body) const = 0;

  // The provider's error message from an error body (of any of its APIs), truncated;
  // empty if none.
  [[nodiscard]] virtual std::string errorMessage(std::string_view body) const = 0;

  // The provider's embeddings API, or nullptr if it has none (Anthropic): the Balancer
  // then skips its endpoints for embeddings calls. Lives as long as this codec.
  [[nodiscard]] virtual const EmbeddingsCodec* embeddings() const = 0;
};

// Applies the request's values, then the endpoint's defaults, then the config's.
[[nodiscard]] RequestSettings resolveSettings(const ChatRequest& request,
                                              const EndpointConfig& endpoint,
                                              std::string_view model,
                                              std::int64_t default_max_tokens);

[[nodiscard]] const ProviderCodec& codecFor(Provider provider);

}  // namespace celeriac::balancer
