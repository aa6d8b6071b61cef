// Endpoint selection through the whole Balancer, 64 endpoints serving one model: what
// submit() does before the request leaves (route, per-endpoint filters of health,
// breaker, backoff and retry budget, the key walk with its admission check, the
// strategy's pick, the bucket reservation) plus building the HTTP request. The
// transport here only keeps the callback, so no network or loop turn is timed.
// pick_bench.cc times the strategies alone. Prints figures only; the target (under
// 1 microsecond per pick with 64 endpoints) is checked by reading the output.
#include <benchmark/benchmark.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "balancer/balancer.h"
#include "balancer/config_loader.h"
#include "fake_loop.h"

namespace {

using namespace celeriac::balancer;

// Keeps each request's callback; completes them all on demand, outside send().
class HoldingTransport final : public HttpTransport {
 public:
  HttpRequestId send(HttpRequest, std::function<void(HttpResponse)> on_done) override {
    pending_.push_back(std::move(on_done));
    return next_id_++;
  }
  void cancel(HttpRequestId) override {}
  void completeAll(const HttpResponse& response) {
    std::vector<std::function<void(HttpResponse)>> done;
    done.swap(pending_);
    for (auto& cb : done) cb(response);
  }

 private:
  std::vector<std::function<void(HttpResponse)>> pending_;
  HttpRequestId next_id_ = 1;
};

std::string endpointsYaml(std::string_view strategy, bool limited, int count) {
  std::string yaml = "strategy: " + std::string(strategy) + "\nendpoints:\n";
  for (int i = 0; i < count; ++i) {
    yaml += "  - {name: e" + std::to_string(i) + ", url: \"http://e" + std::to_string(i) +
            "/v1\", models: [m], weight: " + std::to_string(1 + i % 4);
    if (limited) yaml += ", limits: {m: {rpm: 100000000, tpm: 100000000000}}";
    yaml += "}\n";
  }
  return yaml;
}

HttpResponse okResponse() {
  HttpResponse r;
  r.status = 200;
  r.body = R"({"model":"m","choices":[{"message":{"role":"assistant","content":"ok"},)"
           R"("finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5}})";
  return r;
}

// Times submit() alone (selection + reservation + request build + send); the replies
// that keep in-flight counts realistic are delivered outside the timed part, every
// `batch` calls.
void selectBench(benchmark::State& state, std::string_view strategy, bool limited) {
  celeriac::testing::FakeDispatcher loop;
  HoldingTransport http;
  const int endpoints = static_cast<int>(state.range(0));
  auto balancer =
      Balancer::create(ConfigLoader::fromYaml(endpointsYaml(strategy, limited, endpoints)).value(),
                       loop, http, ConfigLoader::secretResolver({}, nullptr))
          .value();
  ChatRequest request;
  request.model = "m";
  request.messages = {ChatMessage::text("user", "Which bin does a PET bottle go in?")};
  const HttpResponse ok = okResponse();
  constexpr int kBatch = 64;
  int in_batch = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(balancer->submit(request, [](CallResult) {}));
    const auto end = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
    if (++in_batch == kBatch) {
      in_batch = 0;
      http.completeAll(ok);
      loop.runReady();
    }
  }
  http.completeAll(ok);
  loop.runReady();
}

// The Balancer's whole own work for one call that succeeds at once: submit, the reply
// (status, headers, JSON parse, reconcile, breaker, stats) and the callback.
void wholeCallBench(benchmark::State& state) {
  celeriac::testing::FakeDispatcher loop;
  HoldingTransport http;
  auto balancer =
      Balancer::create(ConfigLoader::fromYaml(endpointsYaml("weighted", true, 64)).value(), loop,
                       http, ConfigLoader::secretResolver({}, nullptr))
          .value();
  ChatRequest request;
  request.model = "m";
  request.messages = {ChatMessage::text("user", "Which bin does a PET bottle go in?")};
  const HttpResponse ok = okResponse();
  for (auto _ : state) {
    benchmark::DoNotOptimize(balancer->submit(request, [](CallResult) {}));
    http.completeAll(ok);
    loop.runReady();
  }
}

}  // namespace

BENCHMARK_CAPTURE(selectBench, round_robin, "round_robin", false)->Arg(64)->UseManualTime();
BENCHMARK_CAPTURE(selectBench, weighted, "weighted", false)->Arg(64)->UseManualTime();
BENCHMARK_CAPTURE(selectBench, least_connections, "least_connections", false)
    ->Arg(64)
    ->UseManualTime();
BENCHMARK_CAPTURE(selectBench, random, "random", false)->Arg(64)->UseManualTime();
BENCHMARK_CAPTURE(selectBench, latency, "latency", false)->Arg(64)->UseManualTime();
BENCHMARK_CAPTURE(selectBench, cost, "cost", false)->Arg(64)->UseManualTime();
BENCHMARK_CAPTURE(selectBench, weighted_with_rpm_tpm_limits, "weighted", true)
    ->Arg(64)
    ->UseManualTime();
// The same with one endpoint: the difference to 64 is what the other 63 cost a pick.
BENCHMARK_CAPTURE(selectBench, weighted, "weighted", false)->Arg(1)->UseManualTime();
BENCHMARK(wholeCallBench);

BENCHMARK_MAIN();
