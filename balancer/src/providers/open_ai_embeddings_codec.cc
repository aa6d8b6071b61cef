#include "providers/open_ai_embeddings_codec.h"

#include <nlohmann/json.hpp>

#include "providers/open_ai_http_request.h"

namespace celeriac::balancer {

using nlohmann::json;

HttpRequest OpenAiEmbeddingsCodec::buildRequest(const EmbeddingRequest& request,
                                                std::string_view model,
                                                const EndpointConfig& endpoint,
                                                std::string_view api_key) const {
  json body{{"model", model}};
  if (request.input.size() == 1) {
    body["input"] = request.input.front();
  } else {
    body["input"] = request.input;
  }
  if (request.dimensions) body["dimensions"] = *request.dimensions;
  if (!request.user.empty()) body["user"] = request.user;

  return openAiPost(endpoint, "/embeddings", api_key, body);
}

std::optional<Embeddings> OpenAiEmbeddingsCodec::parseResponse(std::string_view body,
                                                               std::size_t input_count) const {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  const auto data = doc.find("data");
  if (data == doc.end() || !data->is_array() || data->size() != input_count) return std::nullopt;
  Embeddings out;
  out.vectors.resize(input_count);
  std::vector<bool> seen(input_count, false);
  for (const json& item : *data) {
    if (!item.is_object()) return std::nullopt;
    const auto index = item.find("index");
    const auto embedding = item.find("embedding");
    if (index == item.end() || !index->is_number_unsigned() || embedding == item.end() ||
        !embedding->is_array() || embedding->empty()) {
      return std::nullopt;
    }
    const auto i = index->get<std::size_t>();
    if (i >= input_count || seen[i]) return std::nullopt;
    seen[i] = true;
    std::vector<double>& vector = out.vectors[i];
    vector.reserve(embedding->size());
    for (const json& x : *embedding) {
      if (!x.is_number()) return std::nullopt;
      vector.push_back(x.get<double>());
    }
  }
  if (doc.contains("model") && doc["model"].is_string())
    out.model = doc["model"].get<std::string>();
  if (doc.contains("usage") && doc["usage"].is_object()) {
    const json& u = doc["usage"];
    if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) {
      out.usage = Usage{u["prompt_tokens"].get<std::int64_t>(), 0};
    }
  }
  return out;
}

}  // namespace celeriac::balancer
