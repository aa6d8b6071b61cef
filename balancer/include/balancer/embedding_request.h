#pragma once
// EmbeddingRequest and Embeddings: one provider-neutral embeddings call and its answer.
//
// For: what a caller hands Balancer::submit to embed texts (a route or a model, the
// inputs, a deadline), routed exactly like a ChatRequest, and what a codec extracts from
// a reply. Not for the wire format (OpenAiEmbeddingsCodec). Plain values; copyable.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "balancer/chat_request.h"

namespace celeriac::balancer {

struct EmbeddingRequest {
  // Either a route (task type x priority) or a model; a model wins if both are set.
  std::string task_type;
  std::string priority;
  std::string model;
  std::vector<std::string> input;                    // at least one text, none empty
  std::optional<std::int64_t> dimensions;            // text-embedding-3-*: shorter vectors
  std::string user;                                  // optional end-user id, passed through if set
  int queue_priority = 0;                            // higher waits less for capacity
  std::optional<std::chrono::milliseconds> timeout;  // else the config's
  std::int64_t estimated_prompt_tokens = 0;          // 0: estimated from the texts
  RoutingConstraints constraints;                    // as for chat (see chat_request.h)
};

struct Embeddings {
  std::vector<std::vector<double>> vectors;  // vectors[i] embeds input[i]
  std::string model;                         // as the provider reports it
  std::optional<Usage> usage;                // prompt_tokens as input_tokens; nullopt if not said
};

// The bucket reservation of an embeddings call: its input tokens only, as an embedding
// has no output tokens (and so no max_tokens). Same rule of thumb as
// estimatePromptTokens: about four characters per token, rounded up, per text.
[[nodiscard]] std::int64_t estimateInputTokens(const EmbeddingRequest& request);

}  // namespace celeriac::balancer
