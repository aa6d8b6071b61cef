#include "core/api_request.h"

#include <utility>

namespace celeriac::balancer {

ApiRequest::ApiRequest(ChatRequest request)
    : request_(std::move(request)),
      prompt_tokens_(estimatePromptTokens(std::get<ChatRequest>(request_))) {}

ApiRequest::ApiRequest(EmbeddingRequest request)
    : request_(std::move(request)),
      prompt_tokens_(estimateInputTokens(std::get<EmbeddingRequest>(request_))) {}

// Both request types name their routing fields alike, so one generic lambda reads either.
const std::string& ApiRequest::model() const {
  return std::visit([](const auto& r) -> const std::string& { return r.model; }, request_);
}
const std::string& ApiRequest::taskType() const {
  return std::visit([](const auto& r) -> const std::string& { return r.task_type; }, request_);
}
const std::string& ApiRequest::priority() const {
  return std::visit([](const auto& r) -> const std::string& { return r.priority; }, request_);
}
std::optional<std::chrono::milliseconds> ApiRequest::timeout() const {
  return std::visit([](const auto& r) { return r.timeout; }, request_);
}
int ApiRequest::queuePriority() const {
  return std::visit([](const auto& r) { return r.queue_priority; }, request_);
}
const RoutingConstraints& ApiRequest::constraints() const {
  return std::visit([](const auto& r) -> const RoutingConstraints& { return r.constraints; },
                    request_);
}

common::Result<void> ApiRequest::validate() const {
  if (const auto* chat = std::get_if<ChatRequest>(&request_)) {
    if (chat->messages.empty()) return common::Error{"request has no messages"};
    return {};
  }
  const auto& embed = std::get<EmbeddingRequest>(request_);
  if (embed.input.empty()) return common::Error{"embeddings request has no input"};
  // Providers answer 400 to an empty text; say so before spending a request on it.
  for (std::size_t i = 0; i < embed.input.size(); ++i) {
    if (embed.input[i].empty()) {
      return common::Error{"embeddings input[" + std::to_string(i) + "] is empty"};
    }
  }
  if (embed.dimensions && *embed.dimensions <= 0) {
    return common::Error{"embeddings dimensions must be positive"};
  }
  return {};
}

std::string_view ApiRequest::apiName() const {
  return std::holds_alternative<ChatRequest>(request_) ? "chat" : "embeddings";
}

std::string_view ApiRequest::unsupportedBy(const ProviderCodec& codec) const {
  if (std::holds_alternative<EmbeddingRequest>(request_) && codec.embeddings() == nullptr) {
    return "embeddings_unsupported";
  }
  return {};
}

double ApiRequest::admissionTokens(const EndpointConfig& endpoint, std::string_view model,
                                   std::int64_t default_max_tokens) const {
  std::int64_t output = 0;  // an embedding has no output tokens
  if (const auto* chat = std::get_if<ChatRequest>(&request_)) {
    output = resolveSettings(*chat, endpoint, model, default_max_tokens).max_tokens;
  }
  return static_cast<double>(prompt_tokens_ + output);
}

HttpRequest ApiRequest::build(const ProviderCodec& codec, const EndpointConfig& endpoint,
                              std::string_view model, std::string_view api_key,
                              std::int64_t default_max_tokens) const {
  if (const auto* chat = std::get_if<ChatRequest>(&request_)) {
    return codec.buildRequest(*chat, resolveSettings(*chat, endpoint, model, default_max_tokens),
                              endpoint, api_key);
  }
  return codec.embeddings()->buildRequest(std::get<EmbeddingRequest>(request_), model, endpoint,
                                          api_key);
}

std::optional<ApiReply> ApiRequest::parse(const ProviderCodec& codec, std::string_view body) const {
  ApiReply reply;
  if (std::holds_alternative<ChatRequest>(request_)) {
    auto completion = codec.parseResponse(body);
    if (!completion) return std::nullopt;
    reply.content = std::move(completion->content);
    reply.provider_model = std::move(completion->model);
    reply.usage = completion->usage;
    return reply;
  }
  const std::size_t inputs = std::get<EmbeddingRequest>(request_).input.size();
  auto embeddings = codec.embeddings()->parseResponse(body, inputs);
  if (!embeddings) return std::nullopt;
  reply.vectors = std::move(embeddings->vectors);
  reply.provider_model = std::move(embeddings->model);
  reply.usage = embeddings->usage;
  return reply;
}

std::optional<ChatRequest> ApiRequest::takeChat() {
  if (auto* chat = std::get_if<ChatRequest>(&request_)) return std::move(*chat);
  return std::nullopt;
}

}  // namespace celeriac::balancer
