// balancer_load_bench: the latency the Balancer adds on top of a direct HTTP call.
//
// Starts one llm-stub on 127.0.0.1 (no added latency) and runs one open-loop load on one
// libuv loop, alternating request by request between (A) a chat completion sent straight
// through CurlTransport and (B) the same request through Balancer::submit over that
// transport. Interleaving makes both paths see the same machine noise; requests are
// released on schedule (rate x elapsed, checked every millisecond) whatever the
// completions do, so a slow path cannot hide by lowering the offered load.
//
// Two figures for B: end to end (submit -> callback, comparable with A's send ->
// callback), and the Balancer's own time, measured exactly per request by a timing
// decorator on the transport: (submit -> the Balancer's send) + (the response -> the
// caller's callback). The own time excludes the network and the stub, so it is the
// part of the added latency that is the Balancer's code and its loop turns.
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
#include "worker/uv/uv_handle.h"

namespace {

using celeriac::testing::integration::StubServer;
using celeriac::testing::integration::TestLoop;
namespace balancer = celeriac::balancer;

struct Figures {
  std::size_t ok = 0;
  std::size_t failed = 0;
  std::vector<double> latency_us;
  void add(bool ok_, double us) {
    (ok_ ? ok : failed) += 1;
    latency_us.push_back(us);
  }
  double pct(double p) {
    if (latency_us.empty()) return 0;
    std::sort(latency_us.begin(), latency_us.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(latency_us.size() - 1));
    return latency_us[i];
  }
};

// Releases `rate` x (`seconds` + `warmup`) requests on schedule through `start_one(n,
// record, finish)`: `record` is false for warm-up requests, and the path calls
// `finish()` once when request n completed. Returns when all have finished.
using Finish = std::function<void()>;
void runOpenLoop(TestLoop& loop, double rate, double seconds, double warmup,
                 const std::function<void(std::size_t n, bool record, Finish)>& start_one) {
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
      start_one(n, n >= warm, [&finished] { ++finished; });
    }
  };
  auto pacer = celeriac::worker::uv::makeHandle<uv_timer_t>(loop.get(), &release);
  uv_timer_start(
      pacer.get(), [](uv_timer_t* t) noexcept { (*static_cast<decltype(release)*>(t->data))(); }, 0,
      1);
  loop.runUntil([&] { return finished == total; },
                std::chrono::milliseconds(static_cast<long>((seconds + warmup) * 1000) + 30000));
  pacer.reset();
  loop.runFor(std::chrono::milliseconds(1));
}

double microsSince(std::uint64_t start_ns) {
  return static_cast<double>(uv_hrtime() - start_ns) / 1e3;
}

// Wraps the real transport and notes, per bench request (found by the "bench-<n>"
// marker its body carries), when it was sent and when its response arrived.
class TimingTransport final : public balancer::HttpTransport {
 public:
  struct Times {
    std::uint64_t sent_ns = 0;
    std::uint64_t answered_ns = 0;
  };
  TimingTransport(balancer::HttpTransport& inner, std::size_t requests)
      : inner_(inner), times_(requests) {}

  balancer::HttpRequestId send(balancer::HttpRequest request,
                               std::function<void(balancer::HttpResponse)> on_done) override {
    const std::size_t n = markerOf(request.body);
    if (n < times_.size()) times_[n].sent_ns = uv_hrtime();
    return inner_.send(std::move(request),
                       [this, n, done = std::move(on_done)](balancer::HttpResponse response) {
                         if (n < times_.size()) times_[n].answered_ns = uv_hrtime();
                         done(std::move(response));
                       });
  }
  void cancel(balancer::HttpRequestId id) override { inner_.cancel(id); }
  [[nodiscard]] const Times& times(std::size_t n) const { return times_[n]; }

  static std::string marker(std::size_t n) { return "bench-" + std::to_string(n) + "."; }

 private:
  static std::size_t markerOf(const std::string& body) {
    const auto at = body.find("bench-");
    if (at == std::string::npos) return static_cast<std::size_t>(-1);
    return static_cast<std::size_t>(std::strtoull(body.c_str() + at + 6, nullptr, 10));
  }
  balancer::HttpTransport& inner_;
  std::vector<Times> times_;
};

void print(const char* name, Figures& f) {
  std::printf("%-26s ok=%zu failed=%zu p50=%.1fus p90=%.1fus p99=%.1fus max=%.1fus\n", name, f.ok,
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
  auto curl = std::make_unique<celeriac::worker::http::CurlTransport>(*dispatcher);
  const auto total = static_cast<std::size_t>(rate * (seconds + warmup));
  auto transport = std::make_unique<TimingTransport>(*curl, total);

  balancer::BalancerConfig config;
  config.strategy = balancer::StrategyKind::kRoundRobin;
  balancer::EndpointConfig ep;
  ep.name = "stub";
  ep.base_url = stub.baseUrl();
  ep.models = {"*"};
  ep.keys.push_back({"bench", balancer::SecretRef{"bench", "", std::nullopt}, "", std::nullopt});
  config.endpoints.push_back(ep);
  config.retry_budget.min_retries = 1000;
  auto bal = balancer::Balancer::create(
                 config, *dispatcher, *transport,
                 [](const balancer::SecretRef& ref) { return std::optional<std::string>(ref.env); })
                 .value();

  Figures direct;
  Figures via;
  Figures own;
  runOpenLoop(loop, rate, seconds, warmup, [&](std::size_t n, bool record, Finish finish) {
    const std::string content = TimingTransport::marker(n) + " hello";
    const std::uint64_t start = uv_hrtime();
    if (n % 2 == 0) {  // (A) direct
      balancer::HttpRequest r;
      r.url = stub.baseUrl() + "/chat/completions";
      r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer bench"}};
      r.body = nlohmann::json{{"model", "gpt-4o"},
                              {"max_tokens", 16},
                              {"messages", {{{"role", "user"}, {"content", content}}}}}
                   .dump();
      transport->send(std::move(r), [&, start, record, finish](balancer::HttpResponse resp) {
        if (record) direct.add(resp.status == 200, microsSince(start));
        finish();
      });
      return;
    }
    balancer::ChatRequest r;  // (B) through the Balancer
    r.model = "gpt-4o";
    r.max_tokens = 16;
    r.messages.push_back(balancer::ChatMessage::text("user", content));
    bal->submit(std::move(r), [&, n, start, record, finish](balancer::CallResult res) {
      if (record) {
        const std::uint64_t now = uv_hrtime();
        via.add(res.ok(), microsSince(start));
        const auto& t = transport->times(n);
        own.add(res.ok() && t.sent_ns != 0,
                static_cast<double>((t.sent_ns - start) + (now - t.answered_ns)) / 1e3);
      }
      finish();
    });
  });

  std::printf(
      "llm-stub on 127.0.0.1, open loop at %.0f req/s for %.0f s (+%.0f s warm-up),\n"
      "paths interleaved request by request\n",
      rate, seconds, warmup);
  print("direct CurlTransport", direct);
  print("Balancer+CurlTransport", via);
  print("Balancer's own time", own);
  std::printf("added end to end (B - A): p50=%.1fus p99=%.1fus\n", via.pct(0.5) - direct.pct(0.5),
              via.pct(0.99) - direct.pct(0.99));
  bal.reset();
  transport.reset();
  curl.reset();
  dispatcher.reset();
  return loop.close() == 0 && direct.failed == 0 && via.failed == 0 ? 0 : 1;
}
