// Fuzz target: the provider codecs' response readers on the input as an HTTP response
// body (README.md): OpenAI chat completions and embeddings, Anthropic messages, and
// both providers' error bodies.
//
// Contract checked (provider_codec.h, open_ai_embeddings_codec.h): a body that is not
// the expected JSON gives nullopt (or an empty error message), never an exception. The
// Balancer calls these on whatever a server sent, with no try around them
// (api_request.cc, balancer_response.cc), so a throw would end the worker.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "providers/anthropic_codec.h"
#include "providers/open_ai_codec.h"
#include "providers/provider_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace celeriac::balancer;
  const std::string_view body = celeriac::fuzz::asText(data, size);
  for (const Provider provider : {Provider::kOpenAi, Provider::kAnthropic}) {
    const ProviderCodec& codec = codecFor(provider);
    (void)codec.parseResponse(body);
    (void)codec.errorMessage(body);
  }
  const EmbeddingsCodec* embeddings = codecFor(Provider::kOpenAi).embeddings();
  // The input count the caller asked for: the size of `data` when it is an array (the
  // count that can succeed), and the counts around it that must be refused.
  std::size_t count = 1;
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && doc.contains("data") && doc["data"].is_array()) {
    count = doc["data"].size();
  }
  (void)embeddings->parseResponse(body, count);
  (void)embeddings->parseResponse(body, count + 1);
  if (count > 0) (void)embeddings->parseResponse(body, count - 1);
  return 0;
}
