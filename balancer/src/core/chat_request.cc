#include "balancer/chat_request.h"

namespace celeriac::balancer {

std::int64_t estimatePromptTokens(const ChatRequest& request) {
  if (request.estimated_prompt_tokens > 0) return request.estimated_prompt_tokens;
  // ~4 characters per token for English (OpenAI's rule of thumb), rounded up; 4 tokens of
  // framing per message; an image at OpenAI's high-detail 1024x1024 price (765 tokens).
  constexpr std::int64_t kPerMessage = 4;
  constexpr std::int64_t kPerImage = 765;
  std::int64_t tokens = 3;
  for (const auto& m : request.messages) {
    tokens += kPerMessage;
    for (const auto& p : m.parts) {
      tokens += p.kind == ContentPart::Kind::kText
                    ? static_cast<std::int64_t>((p.text.str().size() + 3) / 4)
                    : kPerImage;
    }
  }
  return tokens;
}

}  // namespace celeriac::balancer
