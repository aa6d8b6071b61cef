#pragma once
// OpenAiEmbeddingsCodec: OpenAI embeddings (POST {base}/embeddings), also spoken by vLLM
// and most OpenAI-compatible servers. https://platform.openai.com/docs/api-reference/embeddings
//
// For: building the request (one text goes as a string, several as an array, as the API
// accepts both) and reading the reply into vectors in INPUT order: `data[i].index` says
// which input each vector belongs to, and the API does not promise that `data` is sorted.
// OpenAiCodec::embeddings() hands it to the Balancer, which routes embeddings calls like
// chat calls. Not for: `encoding_format: base64` (never requested here, so floats always
// come back), nor error bodies (OpenAiCodec::errorMessage reads those).
// Stateless; pure (no I/O, no clock).

#include <cstddef>
#include <optional>
#include <string_view>

#include "balancer/config.h"
#include "balancer/embedding_request.h"
#include "balancer/http_transport.h"
#include "providers/provider_codec.h"

namespace celeriac::balancer {

class OpenAiEmbeddingsCodec final : public EmbeddingsCodec {
 public:
  // `api_key` may be empty (keyless local servers): no auth header is sent then.
  // Routing fields of `request` (model, route, timeout...) are not sent: `model` is the
  // one chosen for this attempt.
  [[nodiscard]] HttpRequest buildRequest(const EmbeddingRequest& request, std::string_view model,
                                         const EndpointConfig& endpoint,
                                         std::string_view api_key) const override;

  // nullopt unless a 2xx body holds exactly one numeric vector for each of the
  // `input_count` inputs (indexes 0..input_count-1, each once); the caller classes that
  // kMalformed, like a chat reply it cannot read.
  [[nodiscard]] std::optional<Embeddings> parseResponse(std::string_view body,
                                                        std::size_t input_count) const override;
};

}  // namespace celeriac::balancer
