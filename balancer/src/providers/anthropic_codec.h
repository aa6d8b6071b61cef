#pragma once
// AnthropicCodec: Anthropic Messages API (POST {base}/messages, `x-api-key`,
// `anthropic-version: 2023-06-01`). System messages move to the top-level `system`
// field; image parts become `image` blocks with a url or base64 source (data: URLs are
// split into media type and data). `response_format` has no Anthropic equivalent and is
// not sent. https://docs.anthropic.com/en/api/messages. Anthropic has no embeddings API
// (it points to Voyage AI), so embeddings() is nullptr. Stateless.

#include "providers/provider_codec.h"

namespace celeriac::balancer {

class AnthropicCodec final : public ProviderCodec {
 public:
  static constexpr std::string_view kApiVersion = "2023-06-01";

  [[nodiscard]] HttpRequest buildRequest(const ChatRequest& request,
                                         const RequestSettings& settings,
                                         const EndpointConfig& endpoint,
                                         std::string_view api_key) const override;
  [[nodiscard]] std::optional<ChatCompletion> parseResponse(std::string_view body) const override;
  [[nodiscard]] std::string errorMessage(std::string_view body) const override;
  [[nodiscard]] const EmbeddingsCodec* embeddings() const override { return nullptr; }
};

}  // namespace celeriac::balancer
