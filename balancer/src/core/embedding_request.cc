#include "balancer/embedding_request.h"

namespace celeriac::balancer {

std::int64_t estimateInputTokens(const EmbeddingRequest& request) {
  if (request.estimated_prompt_tokens > 0) return request.estimated_prompt_tokens;
  std::int64_t tokens = 0;
  for (const std::string& text : request.input) {
    tokens += static_cast<std::int64_t>((text.size() + 3) / 4);
  }
  return tokens;
}

}  // namespace celeriac::balancer
