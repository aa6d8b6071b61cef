// balancer_load_bench: the latency the Balancer adds on top of a direct HTTP call.
//
// Starts one llm-stub on 127.0.0.1 (no added latency), then runs the same open-loop load
// twice on one libuv loop: (A) chat completions sent straight through CurlTransport,
// (B) the same requests through Balancer::submit over that CurlTransport. Requests are
// released on schedule (rate x elapsed, checked every millisecond), whatever the
// completions do, so a slow path cannot hide by lowering the offered load. Latency is
// from handing the request to the path (send/submit) to its completion callback. Prints
// p50/p90/p99/max of both and the differences.
//
// Usage: balancer_load_bench [--rate N/s (2000)] [--seconds S (5)] [--warmup S (1)]

#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "balancer/balancer.h"
#include "stub_server.h"
#include "test_loop.h"
#include "worker/http/curl_transport.h"
#include "worker/uv/uv_dispatcher.h"

namespace {

using celeriac::testing::integration::StubServer;
using celeriac::testing::integration::TestLoop;
namespace balancer = celeriac::balancer;

struct Figures {
  std::size_t ok = 0;
  std::size_t failed = 0;
  std::vector<double> latency_us;
  double pct(double p) {
    if (latency_us.empty()) return 0;
    std::sort(latency_us.begin(), latency_us.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(latency_us.size() - 1));
    return latency_us[i];
  }
};

// Releases `rate` x `seconds` requests on schedule through `start_one(on_done)`.
// `on_done(ok)` is called by the path under test. Warm-up requests are not recorded.
Figures runOpenLoop(TestLoop& loop, double rate, double seconds, double warmup,
                    const std::function<void(std::function<void(bool)>)>& start_one) {
  Figures f;
  const auto total = static_cast<std::size_t>(rate * (seconds + warmup));
  const auto warm = static_cast<std::size_t>(rate * warmup);
  std::size_t released = 0;
  std::size_t finished = 0;
  const std::uint64_t t0 = uv_hrtime();
  auto release = [&] {
    const double elapsed_s = static_cast<double>(uv_hrtime() - t0) / 1e9;
    const auto due = std::min(total, static_cast<std::size_t>(elapsed_s * rate) + 1);
    while (released < due) {
      const std::size_t n = released++;
      // From the moment it is handed to the path (the 1 ms pacer's own lag is the same
      // for both paths and is left out).
      const std::uint64_t sent = uv_hrtime();
      start_one([&f, &finished, n, warm, sent](bool ok) {
        ++finished;
        if (n < warm) return;
        (ok ? f.ok : f.failed) += 1;
        f.latency_us.push_back(static_cast<double>(uv_hrtime() - sent) / 1e3);
      });
    }
  };
  auto* pacer = new uv_timer_t;
  uv_timer_init(loop.get(), pacer);
  pacer->data = &release;
  uv_timer_start(
      pacer, [](uv_timer_t* t) noexcept { (*static_cast<decltype(release)*>(t->data))(); }, 0, 1);
  loop.runUntil([&] { return finished == total; },
                std::chrono::milliseconds(static_cast<long>((seconds + warmup) * 1000) + 30000));
  uv_close(reinterpret_cast<uv_handle_t*>(pacer),
           [](uv_handle_t* h) noexcept { delete reinterpret_cast<uv_timer_t*>(h); });
  loop.runFor(std::chrono::milliseconds(1));
  return f;
}

void print(const char* name, Figures& f) {
  std::printf("%-22s ok=%zu failed=%zu p50=%.1fus p90=%.1fus p99=%.1fus max=%.1fus\n", name, f.ok,
              f.failed, f.pct(0.50), f.pct(0.90), f.pct(0.99), f.pct(1.0));
}

}  // namespace

int main(int argc, char** argv) {
  double rate = 2000, seconds = 5, warmup = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const double value = std::atof(argv[i + 1]);
    if (flag == "--rate") rate = value;
    if (flag == "--seconds") seconds = value;
    if (flag == "--warmup") warmup = value;
  }
  StubServer stub;
  TestLoop loop;
  auto dispatcher = std::make_unique<celeriac::worker::uv::UvDispatcher>(loop.get());
  auto transport = std::make_unique<celeriac::worker::http::CurlTransport>(*dispatcher);

  const std::string body = nlohmann::json{{"model", "gpt-4o"},
                                          {"max_tokens", 16},
                                          {"messages", {{{"role", "user"}, {"content", "hello"}}}}}
                               .dump();
  Figures direct = runOpenLoop(loop, rate, seconds, warmup, [&](std::function<void(bool)> done) {
    balancer::HttpRequest r;
    r.url = stub.baseUrl() + "/chat/completions";
    r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer bench"}};
    r.body = body;
    transport->send(std::move(r),
                    [d = std::move(done)](balancer::HttpResponse resp) { d(resp.status == 200); });
  });

  balancer::BalancerConfig config;
  config.strategy = balancer::StrategyKind::kRoundRobin;
  balancer::EndpointConfig ep;
  ep.name = "stub";
  ep.base_url = stub.baseUrl();
  ep.models = {"*"};
  ep.keys.push_back({"bench", balancer::SecretRef{"bench", "", std::nullopt}, "", std::nullopt});
  config.endpoints.push_back(ep);
  config.retry_budget.min_retries = 1000;
  auto bal = std::make_unique<balancer::Balancer>(
      config, *dispatcher, *transport,
      [](const balancer::SecretRef& ref) { return std::optional<std::string>(ref.env); });
  Figures via = runOpenLoop(loop, rate, seconds, warmup, [&](std::function<void(bool)> done) {
    balancer::ChatRequest r;
    r.model = "gpt-4o";
    r.max_tokens = 16;
    r.messages.push_back(balancer::ChatMessage::text("user", "hello"));
    bal->submit(std::move(r), [d = std::move(done)](balancer::CallResult res) { d(res.ok()); });
  });

  std::printf("llm-stub on 127.0.0.1, open loop at %.0f req/s for %.0f s (+%.0f s warm-up)\n", rate,
              seconds, warmup);
  print("direct CurlTransport", direct);
  print("Balancer+CurlTransport", via);
  std::printf("added by the Balancer: p50=%.1fus p99=%.1fus\n", via.pct(0.5) - direct.pct(0.5),
              via.pct(0.99) - direct.pct(0.99));
  bal.reset();
  transport.reset();
  dispatcher.reset();
  return loop.close() == 0 && direct.failed == 0 && via.failed == 0 ? 0 : 1;
}
