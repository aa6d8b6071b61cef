#pragma once
// Helpers for tests that drive a balancer::HttpTransport (CurlTransport, H2Transport) on
// a TestLoop: build a chat call to the llm-stub, send a batch of requests at once and run the loop
// until every one has answered (bounded), and check that each call of a batch got an OpenAI-shaped
// answer naming that call (the llm-stub echoes the prompt), not a neighbour's. Not for: anything
// about one transport's connections (each test asks its server).

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "balancer/http_transport.h"
#include "providers/open_ai_codec.h"
#include "test_loop.h"

namespace celeriac::testing::integration {

// Chat completion call number `i` to the llm-stub at `base_url` (StubServer::baseUrl()):
// its prompt names the call, so each answer can be matched to its call.
inline balancer::HttpRequest stubChatCall(const std::string& base_url,
                                          const balancer::HttpConnectionPolicy& policy, int i) {
  balancer::HttpRequest r;
  r.url = base_url + "/chat/completions";
  r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer sk-h2-test"}};
  r.body =
      nlohmann::json{{"model", "gpt-4o"},
                     {"messages", {{{"role", "user"}, {"content", "call " + std::to_string(i)}}}}}
          .dump();
  r.connect_timeout = std::chrono::seconds(5);
  r.total_timeout = std::chrono::seconds(30);
  r.connection = policy;
  return r;
}

// Sends every request at once; the responses in request order. A call still
// unanswered after `timeout` fails the test and comes back default (error kNone, 0).
inline std::vector<balancer::HttpResponse> sendAllAndWait(
    balancer::HttpTransport& transport, TestLoop& loop, std::vector<balancer::HttpRequest> requests,
    std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::vector<std::optional<balancer::HttpResponse>> out(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    transport.send(std::move(requests[i]),
                   [&out, i](balancer::HttpResponse r) { out[i] = std::move(r); });
  }
  EXPECT_TRUE(loop.runUntil(
      [&] {
        for (const auto& r : out) {
          if (!r) return false;
        }
        return true;
      },
      timeout));
  std::vector<balancer::HttpResponse> done;
  for (auto& r : out) done.push_back(r.value_or(balancer::HttpResponse{}));
  return done;
}

// Response i is a 200 whose completion text names "call i".
inline void expectEachAnsweredItsOwnCall(const std::vector<balancer::HttpResponse>& responses) {
  for (std::size_t i = 0; i < responses.size(); ++i) {
    const balancer::HttpResponse& r = responses[i];
    ASSERT_EQ(r.error, balancer::TransportError::kNone) << "call " << i << ": " << r.error_detail;
    ASSERT_EQ(r.status, 200) << "call " << i << ": " << r.body;
    const auto completion = balancer::OpenAiCodec{}.parseResponse(r.body);
    ASSERT_TRUE(completion.has_value()) << r.body;
    EXPECT_NE(completion->content.find("call " + std::to_string(i)), std::string::npos)
        << completion->content;
  }
}

}  // namespace celeriac::testing::integration
