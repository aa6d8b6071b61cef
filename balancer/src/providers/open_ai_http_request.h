#pragma once
// openAiPost: the HTTP request every OpenAI-compatible API call is sent as (chat
// completions, embeddings): a JSON POST to {base_url}{path} with the endpoint's
// timeouts and, when the key is not empty, a Bearer token. Internal to the codecs.
// Pure: builds a value.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "balancer/config.h"
#include "balancer/http_transport.h"

#include "providers/endpoint_http.h"

namespace celeriac::balancer {

inline HttpRequest openAiPost(const EndpointConfig& endpoint, std::string_view path,
                              std::string_view api_key, const nlohmann::json& body) {
  HttpRequest http;
  http.url = endpoint.base_url + std::string(path);
  http.headers.push_back({"Content-Type", "application/json"});
  if (!api_key.empty()) http.headers.push_back({"Authorization", "Bearer " + std::string(api_key)});
  http.body = body.dump();
  withEndpointConnection(http, endpoint);
  return http;
}

}  // namespace celeriac::balancer
