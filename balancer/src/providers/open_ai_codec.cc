#include "providers/open_ai_codec.h"

#include "providers/open_ai_embeddings_codec.h"

#include "providers/open_ai_http_request.h"

namespace celeriac::balancer {

using nlohmann::json;

HttpRequest OpenAiCodec::buildRequest(const ChatRequest& request, const RequestSettings& s,
                                      const EndpointConfig& endpoint,
                                      std::string_view api_key) const {
  json messages = json::array();
  for (const auto& m : request.messages) {
    json msg{{"role", m.role}};
    // A single text part goes as a plain string: every OpenAI-compatible server accepts
    // that, while some (older vLLM) reject content arrays for system messages.
    if (m.parts.size() == 1 && m.parts[0].kind == ContentPart::Kind::kText) {
      msg["content"] = m.parts[0].text.str();
    } else {
      json parts = json::array();
      for (const auto& p : m.parts) {
        if (p.kind == ContentPart::Kind::kText) {
          parts.push_back({{"type", "text"}, {"text", p.text.str()}});
        } else {
          json image{{"url", p.url.str()}};
          if (!p.detail.empty()) image["detail"] = p.detail;
          parts.push_back({{"type", "image_url"}, {"image_url", image}});
        }
      }
      msg["content"] = std::move(parts);
    }
    messages.push_back(std::move(msg));
  }
  json body{{"model", s.model}, {"messages", std::move(messages)}, {"max_tokens", s.max_tokens}};
  if (s.temperature) body["temperature"] = *s.temperature;
  if (request.response_format) body["response_format"] = *request.response_format;

  return openAiPost(endpoint, "/chat/completions", api_key, body);
}

std::optional<ChatCompletion> OpenAiCodec::parseResponse(std::string_view body) const {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  const auto choices = doc.find("choices");
  if (choices == doc.end() || !choices->is_array() || choices->empty()) return std::nullopt;
  const json& choice = (*choices)[0];
  if (!choice.is_object() || !choice.contains("message") || !choice["message"].is_object()) {
    return std::nullopt;
  }
  ChatCompletion out;
  const json& content = choice["message"].value("content", json());
  if (content.is_string()) {
    out.content = content.get<std::string>();
  } else if (!content.is_null()) {
    return std::nullopt;  // null content is legal (tool calls, refusals); other types not
  }
  out.finish_reason = choice.value("finish_reason", json()).is_string()
                          ? choice["finish_reason"].get<std::string>()
                          : std::string();
  if (doc.contains("model") && doc["model"].is_string())
    out.model = doc["model"].get<std::string>();
  if (doc.contains("usage") && doc["usage"].is_object()) {
    const json& u = doc["usage"];
    if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer() &&
        u.contains("completion_tokens") && u["completion_tokens"].is_number_integer()) {
      out.usage =
          Usage{u["prompt_tokens"].get<std::int64_t>(), u["completion_tokens"].get<std::int64_t>()};
    }
  }
  return out;
}

std::string OpenAiCodec::errorMessage(std::string_view body) const {
  const json doc = json::parse(body, nullptr, false);
  std::string msg;
  if (doc.is_object() && doc.contains("error")) {
    const json& e = doc["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) {
      msg = e["message"].get<std::string>();
    } else if (e.is_string()) {
      msg = e.get<std::string>();
    }
  }
  if (msg.size() > 500) msg.resize(500);
  return msg;
}

const EmbeddingsCodec* OpenAiCodec::embeddings() const {
  static const OpenAiEmbeddingsCodec kEmbeddings;
  return &kEmbeddings;
}

}  // namespace celeriac::balancer
