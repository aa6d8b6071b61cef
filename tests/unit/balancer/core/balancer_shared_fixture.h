#pragma once
// BalancerSharedTest: a Balancer whose one endpoint's key is shared by three replicas
// (rpm 6: 2 per replica locally), over a FakeSharedBucketStore whose answers each test
// gives, with helpers to submit and to reach the local-share fallback. Shared by the
// Balancer's shared-bucket tests.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "balancer/balancer.h"
#include "balancer/config_loader.h"
#include "fake_loop.h"
#include "fake_shared_bucket_store.h"

namespace celeriac::balancer {

using celeriac::testing::FakeDispatcher;
using celeriac::testing::FakeSharedBucketStore;
using celeriac::testing::FakeTransport;

inline const std::string kOk =
    R"({"model":"m","choices":[{"message":{"role":"assistant","content":"hi"},)"
    R"("finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":50}})";

inline constexpr const char* kShared = R"(
timeout: 120
max_queue_wait: 90
endpoints:
  - name: e
    url: "http://e/v1"
    models: [m]
    api_key_env: KEY_A
    shared: true
    replicas: 3
    limits: {m: {rpm: 6, tpm: 100000}}
)";

class BalancerSharedTest : public ::testing::Test {
 protected:
  void make(const std::string& yaml, bool with_store = true) {
    balancer_ = Balancer::create(
                    ConfigLoader::fromYaml(yaml).value(), loop_, http_,
                    ConfigLoader::secretResolver({{"KEY_A", "sk-a"}, {"KEY_B", "sk-b"}}, nullptr),
                    1, with_store ? &store_ : nullptr)
                    .value();
  }
  CallId submit() {
    ChatRequest r;
    r.model = "m";
    r.messages = {ChatMessage::text("user", "hello")};
    return balancer_->submit(r, [this](CallResult res) { results_.push_back(std::move(res)); });
  }
  // The store went away one window ago: the call's probes are answered "unavailable"
  // and the fallback hold is over.
  void passTheFallbackHold() {
    loop_.advance(std::chrono::seconds(61));
    store_.answerAll(SharedReserveResult::Status::kUnavailable);
    loop_.runReady();
  }
  // A call sent on the local share: the store said it was unavailable (for a window).
  void sendOneOnTheLocalShare() {
    make(kShared);
    submit();
    loop_.runReady();
    store_.answerAll(SharedReserveResult::Status::kUnavailable);
    loop_.runReady();
    ASSERT_EQ(http_.count(), 0u);
    passTheFallbackHold();
    ASSERT_EQ(http_.count(), 1u);
  }
  static bool traceHas(const CallResult& r, const std::string& reason) {
    for (const auto& t : r.trace) {
      if (t.reason == reason) return true;
    }
    return false;
  }

  FakeDispatcher loop_;
  FakeTransport http_{loop_};
  FakeSharedBucketStore store_{loop_};
  std::unique_ptr<Balancer> balancer_;
  std::vector<CallResult> results_;
};

}  // namespace celeriac::balancer
