#pragma once
// Response bodies in the providers' shapes: OpenAI chat completions, embeddings, model
// list and error objects; Anthropic messages and error objects.
//
// Pure JSON builders: the caller passes ids and times, so the same input gives the same
// body. Not for: headers or status choice (Router), content (ChatContent).

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac::testing::stub {

struct Usage {
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
};

[[nodiscard]] nlohmann::json openAiChatBody(const std::string& id, const std::string& model,
                                            std::int64_t created_unix_s, const std::string& content,
                                            Usage usage);

// One deterministic unit-length vector of |dimensions| per input text.
[[nodiscard]] nlohmann::json openAiEmbeddingsBody(const std::string& model,
                                                  const std::vector<std::string>& inputs,
                                                  std::size_t dimensions,
                                                  std::uint64_t prompt_tokens);

[[nodiscard]] nlohmann::json openAiModelsBody(const std::vector<std::string>& models,
                                              std::int64_t created_unix_s);

[[nodiscard]] nlohmann::json anthropicMessageBody(const std::string& id, const std::string& model,
                                                  const std::string& text, Usage usage);

// {"error":{"message","type","code"}}; |code| omitted when empty.
[[nodiscard]] nlohmann::json openAiError(const std::string& message, const std::string& type,
                                         const std::string& code = "");
// {"type":"error","error":{"type","message"}}
[[nodiscard]] nlohmann::json anthropicError(const std::string& type, const std::string& message);

// The error "type" each provider uses for |status| (OpenAI: invalid_request_error,
// server_error, ...; Anthropic: authentication_error, overloaded_error, ...).
[[nodiscard]] std::string openAiErrorType(int status);
[[nodiscard]] std::string anthropicErrorType(int status);

}  // namespace celeriac::testing::stub

#include "reply.h"

namespace celeriac::testing::stub {

// A Reply carrying |body| as JSON with |status|, delivered at once.
[[nodiscard]] Reply jsonReply(int status, const nlohmann::json& body);

}  // namespace celeriac::testing::stub
