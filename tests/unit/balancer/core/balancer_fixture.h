#pragma once
// BalancerTest: a Balancer on a FakeDispatcher and FakeTransport, built from YAML, with
// helpers to submit calls and inspect their traces. Shared by the Balancer unit tests.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "balancer/balancer.h"
#include "balancer/config_loader.h"
#include "fake_loop.h"

namespace celeriac::balancer {

using celeriac::testing::FakeDispatcher;
using celeriac::testing::FakeTransport;

// An OpenAI chat completion reply: usage 100 prompt + 50 completion tokens.
inline std::string okBody(const std::string& content, const std::string& model = "m1") {
  return R"({"model":")" + model + R"(","choices":[{"message":{"role":"assistant","content":")" +
         content +
         R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":50}})";
}

// One endpoint serving model m with two keys, ka (KEY_A) and kb (KEY_B).
inline constexpr const char* kTwoKeys = R"(
endpoints:
  - name: e
    url: "http://e/v1"
    models: [m]
    keys: [{alias: ka, env: KEY_A}, {alias: kb, env: KEY_B}]
)";

class BalancerTest : public ::testing::Test {
 protected:
  void make(const std::string& yaml) {
    auto cfg = ConfigLoader::fromYaml(yaml).value();
    balancer_ =
        Balancer::create(
            cfg, loop_, http_,
            ConfigLoader::secretResolver({{"KEY_A", "sk-a"}, {"KEY_B", "sk-b"}}, nullptr), 1)
            .value();
  }
  CallId submitModel(const std::string& model,
                     std::optional<std::chrono::milliseconds> timeout = {}) {
    ChatRequest r;
    r.model = model;
    r.messages = {ChatMessage::text("user", "hello")};
    r.timeout = timeout;
    return balancer_->submit(r, [this](CallResult res) { results_.push_back(std::move(res)); });
  }
  CallId submit(ChatRequest r) {
    return balancer_->submit(std::move(r),
                             [this](CallResult res) { results_.push_back(std::move(res)); });
  }
  // Submits a call for `model`, answers it 200, and returns the Authorization header it
  // went out with: which key took it.
  std::string callAndAnswer(const std::string& model) {
    submitModel(model);
    loop_.runReady();
    const std::size_t last = http_.count() - 1;
    std::string auth = http_.request(last).headers.back().value;
    http_.reply(last, 200, okBody("ok", model));
    loop_.runReady();
    return auth;
  }
  // With two keys taking turns: for `calls` calls, `gap` apart, the key sent as
  // `rested_auth` takes none; `later` on, one of the next two calls takes it again.
  void expectKeyRestsThenReturns(const std::string& rested_auth, int calls,
                                 std::chrono::nanoseconds gap, std::chrono::nanoseconds later) {
    for (int i = 0; i < calls; ++i) {
      EXPECT_NE(callAndAnswer("m"), rested_auth) << "call " << i;
      loop_.advance(gap);
    }
    loop_.advance(later);
    const std::string a = callAndAnswer("m");
    const std::string b = callAndAnswer("m");
    EXPECT_TRUE(a == rested_auth || b == rested_auth) << "the key is back in turn";
  }
  CallId submitRoute(const std::string& task, const std::string& prio) {
    ChatRequest r;
    r.task_type = task;
    r.priority = prio;
    r.messages = {ChatMessage::text("user", "hello")};
    return balancer_->submit(r, [this](CallResult res) { results_.push_back(std::move(res)); });
  }
  static bool traceHas(const CallResult& r, TraceEntry::Kind kind, const std::string& reason) {
    for (const auto& t : r.trace) {
      if (t.kind == kind && t.reason == reason) return true;
    }
    return false;
  }

  FakeDispatcher loop_;
  FakeTransport http_{loop_};
  std::unique_ptr<Balancer> balancer_;
  std::vector<CallResult> results_;
};

}  // namespace celeriac::balancer
