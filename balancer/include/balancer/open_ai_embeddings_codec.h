#pragma once
// OpenAiEmbeddingsCodec: OpenAI embeddings (POST {base}/embeddings), also spoken by vLLM
// and most OpenAI-compatible servers. https://platform.openai.com/docs/api-reference/embeddings
//
// For: building the request (one text goes as a string, several as an array, as the API
// accepts both) and reading the reply into vectors in INPUT order: `data[i].index` says
// which input each vector belongs to, and the API does not promise that `data` is sorted.
// Not for: routing embeddings through the Balancer (that is the chat path today), nor
// `encoding_format: base64` (never requested here, so floats always come back).
// Stateless; pure (no I/O, no clock).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "balancer/chat_request.h"
#include "balancer/config.h"
#include "balancer/http_transport.h"

namespace celeriac::balancer {

struct EmbeddingRequest {
  std::vector<std::string> input;          // at least one text
  std::optional<std::int64_t> dimensions;  // text-embedding-3-*: shorter vectors
  std::string user;                        // optional end-user id, passed through if set
};

struct Embeddings {
  std::vector<std::vector<double>> vectors;  // vectors[i] embeds input[i]
  std::string model;                         // as the provider reports it
  std::optional<Usage> usage;                // prompt_tokens as input_tokens; nullopt if not said
};

class OpenAiEmbeddingsCodec {
 public:
  // `api_key` may be empty (keyless local servers): no auth header is sent then.
  [[nodiscard]] static HttpRequest buildRequest(const EmbeddingRequest& request,
                                                std::string_view model,
                                                const EndpointConfig& endpoint,
                                                std::string_view api_key);

  // nullopt unless a 2xx body holds exactly one numeric vector for each of the
  // `input_count` inputs (indexes 0..input_count-1, each once); the caller classes that
  // kMalformed, like a chat reply it cannot read.
  [[nodiscard]] static std::optional<Embeddings> parseResponse(std::string_view body,
                                                               std::size_t input_count);
};

}  // namespace celeriac::balancer
