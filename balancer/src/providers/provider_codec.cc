#include "providers/provider_codec.h"

#include "providers/anthropic_codec.h"
#include "providers/open_ai_codec.h"

namespace celeriac::balancer {

RequestSettings resolveSettings(const ChatRequest& request, const EndpointConfig& endpoint,
                                std::string_view model, std::int64_t default_max_tokens) {
  RequestSettings s;
  s.model = std::string(model);
  s.max_tokens = request.max_tokens.value_or(endpoint.max_tokens.value_or(default_max_tokens));
  s.temperature = request.temperature ? request.temperature : endpoint.temperature;
  return s;
}

const ProviderCodec& codecFor(Provider provider) {
  static const OpenAiCodec kOpenAi;
  static const AnthropicCodec kAnthropic;
  if (provider == Provider::kAnthropic) return kAnthropic;
  return kOpenAi;
}

}  // namespace celeriac::balancer
