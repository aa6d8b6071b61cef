#pragma once
// OpenAiCodec: OpenAI chat completions (POST {base}/chat/completions), the format vLLM,
// DeepSeek and Gemini's compatibility endpoint also speak. Text and image_url content
// parts, response_format passed through. https://platform.openai.com/docs/api-reference/chat
// Embeddings go through OpenAiEmbeddingsCodec (embeddings()). Stateless.

#include "providers/provider_codec.h"

namespace celeriac::balancer {

class OpenAiCodec final : public ProviderCodec {
 public:
  [[nodiscard]] HttpRequest buildRequest(const ChatRequest& request,
                                         const RequestSettings& settings,
                                         const EndpointConfig& endpoint,
                                         std::string_view api_key) const override;
  [[nodiscard]] std::optional<ChatCompletion> parseResponse(std::string_view body) const override;
  [[nodiscard]] std::string errorMessage(std::string_view body) const override;
  [[nodiscard]] const EmbeddingsCodec* embeddings() const override;
};

}  // namespace celeriac::balancer
