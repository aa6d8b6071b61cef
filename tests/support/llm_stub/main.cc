// llm-stub: an OpenAI/Anthropic-compatible stub LLM server for celeriac's tests,
// benchmarks and README demo (flags, endpoints and the admin API: README.md here).
//
// One process, one libuv loop: the Listener accepts, each Connection parses with Node's
// http_parser, the Router decides, and uv timers carry latency and slow drip, so
// thousands of slow connections cost sockets, not threads. SIGTERM/SIGINT close the
// listener and every connection; the loop then runs dry and the process exits 0.

#include <signal.h>
#include <sys/resource.h>
#include <uv.h>

#include <cstdio>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "listener.h"
#include "router.h"
#include "stub_config.h"

namespace {

using celeriac::testing::stub::Listener;

// Thousands of held connections need thousands of descriptors: lift the soft limit to
// the hard one (best effort; the hard limit is the administrator's call).
void raiseFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

struct Shutdown {
  Listener* listener = nullptr;
  uv_signal_t sigterm{};
  uv_signal_t sigint{};
};

void onSignal(uv_signal_t* handle, int signum) noexcept {
  auto* s = static_cast<Shutdown*>(handle->data);
  spdlog::info("llm-stub stopping signal={}", signum);
  s->listener->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&s->sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&s->sigint), nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  celeriac::testing::stub::StubConfig config;
  std::int64_t latency_ms = 0;
  std::int64_t upgrade_delay_ms = 0;
  std::string models;
  std::string log_level = "warn";

  CLI::App app{"llm-stub: OpenAI/Anthropic-compatible stub LLM server for tests"};
  app.add_option("--host", config.host, "address to bind")->capture_default_str();
  app.add_option("--port", config.port, "port to bind; 0 picks a free one")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--latency-ms", latency_ms, "latency added to every API answer")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--h2c-upgrade-delay-ms", upgrade_delay_ms,
                 "hold the 101 answer to an Upgrade: h2c request this long")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rpm-limit", config.rpm_limit,
                 "requests per minute per API key (sliding 60 s window); 0 = off")
      ->capture_default_str();
  app.add_option("--tpm-limit", config.tpm_limit,
                 "tokens per minute per API key (sliding 60 s window); 0 = off")
      ->capture_default_str();
  app.add_option("--completion-tokens", config.completion_tokens,
                 "completion tokens reported in usage; 0 = estimate from the content")
      ->capture_default_str();
  app.add_option("--embedding-dimensions", config.embedding_dimensions,
                 "embedding vector length unless the request sets \"dimensions\"")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--models", models, "comma-separated model ids served by GET /v1/models");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  config.latency = std::chrono::milliseconds(latency_ms);
  config.h2c_upgrade_delay = std::chrono::milliseconds(upgrade_delay_ms);
  if (!models.empty()) {
    config.models.clear();
    std::size_t start = 0;
    while (start <= models.size()) {
      const std::size_t comma = std::min(models.find(',', start), models.size());
      if (comma > start) config.models.push_back(models.substr(start, comma - start));
      start = comma + 1;
    }
  }

  // Logs go to stderr: stdout carries only the "listening" line tests parse.
  spdlog::set_default_logger(spdlog::stderr_color_mt("llm-stub"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  raiseFileLimit();
  // A peer that closed mid-response must surface as EPIPE from write, not kill us.
  signal(SIGPIPE, SIG_IGN);

  uv_loop_t loop;
  uv_loop_init(&loop);
  celeriac::testing::stub::Router router(config);
  Listener listener(&loop, router);
  if (const int rc = listener.listen(config.host, config.port, 4096); rc != 0) {
    spdlog::error("llm-stub cannot listen host={} port={} error={}", config.host, config.port,
                  uv_strerror(rc));
    listener.close();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 1;
  }

  Shutdown shutdown;
  shutdown.listener = &listener;
  uv_signal_init(&loop, &shutdown.sigterm);
  uv_signal_init(&loop, &shutdown.sigint);
  shutdown.sigterm.data = &shutdown;
  shutdown.sigint.data = &shutdown;
  uv_signal_start(&shutdown.sigterm, &onSignal, SIGTERM);
  uv_signal_start(&shutdown.sigint, &onSignal, SIGINT);

  std::printf("llm-stub listening on %s:%d\n", config.host.c_str(), listener.port());
  std::fflush(stdout);

  uv_run(&loop, UV_RUN_DEFAULT);
  const int rc = uv_loop_close(&loop);
  if (rc != 0) {
    spdlog::error("llm-stub loop still has open handles at exit error={}", uv_strerror(rc));
    return 1;
  }
  return 0;
}
