#pragma once
// ApiRequest: which provider API one Balancer call speaks (chat completions or
// embeddings), and all that the call loop needs to know about that API.
//
// Why: the Balancer runs ONE call loop for every API (routes and fallbacks, strategies,
// per (key, model) RPM/TPM admission, shared buckets, breakers, failure classes,
// retries). What differs per API is only here: checking the request, whether an
// endpoint's provider serves the API at all, the tokens to reserve, building the HTTP
// request and reading a 2xx reply, both through the provider's codec (ProviderCodec).
// Internal to the balancer's .cc files (held by Balancer::Call). Pure: no I/O, no clock.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "balancer/chat_request.h"
#include "balancer/config.h"
#include "balancer/embedding_request.h"
#include "balancer/http_transport.h"
#include "common/result.h"
#include "providers/provider_codec.h"

namespace celeriac::balancer {

// What a 2xx reply carried, whatever the API.
struct ApiReply {
  std::string content;                       // chat
  std::vector<std::vector<double>> vectors;  // embeddings, vectors[i] embeds input[i]
  std::string provider_model;                // as the provider reports it
  std::optional<Usage> usage;                // nullopt when the provider did not say
};

class ApiRequest {
 public:
  explicit ApiRequest(ChatRequest request);
  explicit ApiRequest(EmbeddingRequest request);

  // Routing values, common to every API.
  [[nodiscard]] const std::string& model() const;
  [[nodiscard]] const std::string& taskType() const;
  [[nodiscard]] const std::string& priority() const;
  [[nodiscard]] std::optional<std::chrono::milliseconds> timeout() const;
  [[nodiscard]] int queuePriority() const;
  [[nodiscard]] const RoutingConstraints& constraints() const;

  // An Error saying what the caller got wrong (no messages, no or empty input, ...).
  [[nodiscard]] common::Result<void> validate() const;

  [[nodiscard]] std::string_view apiName() const;  // "chat" | "embeddings"

  // Empty if `codec`'s provider serves this API; otherwise the trace reason for skipping
  // its endpoints ("embeddings_unsupported"): a constant, checked per candidate.
  [[nodiscard]] std::string_view unsupportedBy(const ProviderCodec& codec) const;

  // The tokens to reserve on an endpoint: chat, the prompt estimate plus the max_tokens
  // that will be sent there (request, else endpoint, else `default_max_tokens`);
  // embeddings, the input estimate alone (no output, no max_tokens).
  [[nodiscard]] double admissionTokens(const EndpointConfig& endpoint, std::string_view model,
                                       std::int64_t default_max_tokens) const;

  // Precondition: unsupportedBy(codec) is empty.
  [[nodiscard]] HttpRequest build(const ProviderCodec& codec, const EndpointConfig& endpoint,
                                  std::string_view model, std::string_view api_key,
                                  std::int64_t default_max_tokens) const;

  // nullopt when a 2xx body is not what this API returns (the caller classes kMalformed).
  // Precondition: unsupportedBy(codec) is empty.
  [[nodiscard]] std::optional<ApiReply> parse(const ProviderCodec& codec,
                                              std::string_view body) const;

  // Moves the chat request out (nullopt for embeddings), for CallResult::request once
  // the call is over; nothing else may be asked of this ApiRequest afterwards.
  [[nodiscard]] std::optional<ChatRequest> takeChat();

 private:
  std::variant<ChatRequest, EmbeddingRequest> request_;
  std::int64_t prompt_tokens_ = 0;  // estimated once, at construction
};

}  // namespace celeriac::balancer
