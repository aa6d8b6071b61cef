#include "providers/anthropic_codec.h"

#include "providers/endpoint_http.h"

namespace celeriac::balancer {

using nlohmann::json;

namespace {

json imageBlock(const ContentPart& p) {
  // data:<media type>;base64,<data>  ->  a base64 source; anything else is a URL source.
  constexpr std::string_view kData = "data:";
  const std::string_view url = p.url;
  const auto marker = url.find(";base64,");
  if (url.starts_with(kData) && marker != std::string_view::npos) {
    return {{"type", "image"},
            {"source",
             {{"type", "base64"},
              {"media_type", std::string(url.substr(kData.size(), marker - kData.size()))},
              {"data", std::string(url.substr(marker + 8))}}}};
  }
  return {{"type", "image"}, {"source", {{"type", "url"}, {"url", p.url.str()}}}};
}

}  // namespace

HttpRequest AnthropicCodec::buildRequest(const ChatRequest& request, const RequestSettings& s,
                                         const EndpointConfig& endpoint,
                                         std::string_view api_key) const {
  std::string system;
  json messages = json::array();
  for (const auto& m : request.messages) {
    if (m.role == "system") {
      for (const auto& p : m.parts) {
        if (p.kind != ContentPart::Kind::kText) continue;
        if (!system.empty()) system += "\n\n";
        system += p.text.str();
      }
      continue;
    }
    json blocks = json::array();
    for (const auto& p : m.parts) {
      if (p.kind == ContentPart::Kind::kText) {
        blocks.push_back({{"type", "text"}, {"text", p.text.str()}});
      } else {
        blocks.push_back(imageBlock(p));
      }
    }
    messages.push_back({{"role", m.role}, {"content", std::move(blocks)}});
  }
  // max_tokens is required by the Messages API.
  json body{{"model", s.model}, {"max_tokens", s.max_tokens}, {"messages", std::move(messages)}};
  if (!system.empty()) body["system"] = system;
  // Anthropic's temperature range is 0..1 where OpenAI's is 0..2.
  if (s.temperature) body["temperature"] = std::min(*s.temperature, 1.0);

  HttpRequest http;
  http.url = endpoint.base_url + "/messages";
  http.headers.push_back({"Content-Type", "application/json"});
  http.headers.push_back({"anthropic-version", std::string(kApiVersion)});
  if (!api_key.empty()) http.headers.push_back({"x-api-key", std::string(api_key)});
  http.body = body.dump();
  withEndpointConnection(http, endpoint);
  return http;
}

std::optional<ChatCompletion> AnthropicCodec::parseResponse(std::string_view body) const {
  const json doc = json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("content") || !doc["content"].is_array()) {
    return std::nullopt;
  }
  ChatCompletion out;
  for (const json& block : doc["content"]) {
    // Not value("type", ""): it throws when "type" is there but not a string. A json
    // compared with a string is simply unequal when it holds another type.
    if (block.is_object() && block.contains("type") && block["type"] == "text" &&
        block.contains("text") && block["text"].is_string()) {
      out.content += block["text"].get<std::string>();
    }
  }
  if (doc.contains("model") && doc["model"].is_string())
    out.model = doc["model"].get<std::string>();
  if (doc.contains("stop_reason") && doc["stop_reason"].is_string()) {
    out.finish_reason = doc["stop_reason"].get<std::string>();
  }
  if (doc.contains("usage") && doc["usage"].is_object()) {
    const json& u = doc["usage"];
    if (u.contains("input_tokens") && u["input_tokens"].is_number_integer() &&
        u.contains("output_tokens") && u["output_tokens"].is_number_integer()) {
      out.usage =
          Usage{u["input_tokens"].get<std::int64_t>(), u["output_tokens"].get<std::int64_t>()};
    }
  }
  return out;
}

std::string AnthropicCodec::errorMessage(std::string_view body) const {
  const json doc = json::parse(body, nullptr, false);
  std::string msg;
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object() &&
      doc["error"].contains("message") && doc["error"]["message"].is_string()) {
    msg = doc["error"]["message"].get<std::string>();
  }
  if (msg.size() > 500) msg.resize(500);
  return msg;
}

}  // namespace celeriac::balancer
