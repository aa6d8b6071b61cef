// Provider-shaped response bodies (see response_builder.h).

#include "response_builder.h"

#include <cmath>
#include <string_view>

namespace celeriac::testing::stub {
namespace {

std::uint64_t fnv1a(std::string_view s, std::uint64_t seed) {
  std::uint64_t h = 1469598103934665603ull ^ seed;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

nlohmann::json openAiChatBody(const std::string& id, const std::string& model,
                              std::int64_t created_unix_s, const std::string& content,
                              Usage usage) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created_unix_s},
          {"model", model},
          {"choices",
           {{{"index", 0},
             {"message", {{"role", "assistant"}, {"content", content}}},
             {"logprobs", nullptr},
             {"finish_reason", "stop"}}}},
          {"usage",
           {{"prompt_tokens", usage.prompt_tokens},
            {"completion_tokens", usage.completion_tokens},
            {"total_tokens", usage.prompt_tokens + usage.completion_tokens}}},
          {"system_fingerprint", "llm-stub"}};
}

nlohmann::json openAiEmbeddingsBody(const std::string& model,
                                    const std::vector<std::string>& inputs, std::size_t dimensions,
                                    std::uint64_t prompt_tokens) {
  nlohmann::json data = nlohmann::json::array();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    std::vector<double> v(dimensions);
    double norm = 0;
    for (std::size_t d = 0; d < dimensions; ++d) {
      // Map a per-(text, dimension) hash to [-1, 1], then normalise like real embeddings.
      const std::uint64_t h = fnv1a(inputs[i], d + 1);
      v[d] = static_cast<double>(h % 20001) / 10000.0 - 1.0;
      norm += v[d] * v[d];
    }
    norm = std::sqrt(norm);
    if (norm > 0) {
      for (double& x : v) x = std::round(x / norm * 1e6) / 1e6;
    }
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", v}});
  }
  return {{"object", "list"},
          {"data", data},
          {"model", model},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

nlohmann::json openAiModelsBody(const std::vector<std::string>& models,
                                std::int64_t created_unix_s) {
  nlohmann::json data = nlohmann::json::array();
  for (const auto& m : models) {
    data.push_back(
        {{"id", m}, {"object", "model"}, {"created", created_unix_s}, {"owned_by", "llm-stub"}});
  }
  return {{"object", "list"}, {"data", data}};
}

nlohmann::json anthropicMessageBody(const std::string& id, const std::string& model,
                                    const std::string& text, Usage usage) {
  return {{"id", id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", model},
          {"content", {{{"type", "text"}, {"text", text}}}},
          {"stop_reason", "end_turn"},
          {"stop_sequence", nullptr},
          {"usage",
           {{"input_tokens", usage.prompt_tokens}, {"output_tokens", usage.completion_tokens}}}};
}

nlohmann::json openAiError(const std::string& message, const std::string& type,
                           const std::string& code) {
  nlohmann::json err = {{"message", message}, {"type", type}, {"param", nullptr}};
  err["code"] = code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code);
  return {{"error", err}};
}

nlohmann::json anthropicError(const std::string& type, const std::string& message) {
  return {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
}

std::string openAiErrorType(int status) {
  if (status == 429) return "requests";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

std::string anthropicErrorType(int status) {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

}  // namespace celeriac::testing::stub

namespace celeriac::testing::stub {

Reply jsonReply(int status, const nlohmann::json& body) {
  Reply reply;
  reply.response.status = status;
  reply.response.body = body.dump();
  return reply;
}

}  // namespace celeriac::testing::stub
