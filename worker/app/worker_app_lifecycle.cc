// WorkerApp's life after wiring: the HTTP port, the 1 s metrics tick, the signals and
// the shutdown order (worker_app.h says what a warm and a cold shutdown do).

#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include "worker/app/worker_app_impl.h"

namespace celeriac::worker::app {

void WorkerApp::Impl::startHttp() {
  if (config.http_port == 0) return;
  auto started = metrics::HttpServer::start(
      config.http_bind, config.http_port,
      metrics::HttpServer::Routes{
          [registry = metrics_registry] {
            return prometheus::TextSerializer().Serialize(registry->Collect());
          },
          [this] { return health.healthz(std::chrono::steady_clock::now()); },
          [this] { return health.readyz(); }});
  if (!started) {
    // Not fatal: tasks still run (a second worker on one host, a taken port). A
    // liveness probe on this port fails, which is how an orchestrator notices.
    log->error("{}; no /metrics, /healthz or /readyz (--http-port 0 turns the port off)",
               started.error().message);
    return;
  }
  http = std::move(started).value();
  log->info("HTTP on {}:{}: /metrics /healthz /readyz", config.http_bind, http->port());
}

void WorkerApp::Impl::tickMetrics() {
  try {
    health.heartbeat(std::chrono::steady_clock::now());
    health.setBrokerOpen(broker->isOpen());
    health.setShuttingDown(shutting_down);
    health.setStoreConnected(store->connected());
    health.setStoreBacklogFull(store->backlog() >= kMaxStoreBacklog);
    const PipelineCounters& c = pipeline->counters();
    task_metrics->refresh(metrics::TaskMetrics::WorkerSnapshot{
        !finished, pipeline->running(),
        pipeline->running() + pipeline->reserved() + pipeline->held(), pipeline->prefetchInForce(),
        c.parked, c.parked_unavailable});
    if (llm_metrics) llm_metrics->refresh();
    if (key_set_shared != nullptr) key_set_shared->Set(llm->keySet().shared ? 1 : 0);
  } catch (const std::exception& e) {
    log->warn("metrics tick failed: {}", e.what());  // never through the C callback
  }
}

void WorkerApp::Impl::onSignal(int signum) {
  if (!shutting_down) {
    log->warn("{} received: warm shutdown, finishing running tasks (grace {} s)",
              signum == SIGTERM ? "SIGTERM" : "SIGINT", config.shutdown_grace.count());
    beginShutdown();
    return;
  }
  log->warn("second signal: cold shutdown, unacked tasks return to the queue");
  pipeline->cancelRunning();
  finish();
}

void WorkerApp::Impl::beginShutdown() {
  if (finished) return;  // finish() has closed the shutdown timer; nothing is left to stop
  shutting_down = true;
  health.setShuttingDown(true);  // /readyz fails at once, not at the next tick
  shutdown_started_ms = uv_now(&loop);
  pipeline->stopStarting();
  broker->cancelConsumers();
  uv_timer_start(
      shutdown_timer.get(),
      [](uv_timer_t* t) noexcept { static_cast<Impl*>(t->data)->checkShutdown(); }, 0,
      kShutdownPollMs);
}

void WorkerApp::Impl::checkShutdown() {
  if (finished) return;
  const bool grace_over = uv_now(&loop) - shutdown_started_ms >=
                          static_cast<std::uint64_t>(config.shutdown_grace.count()) * 1000;
  if (pipeline->running() == 0 && pipeline->storing() == 0 && pipeline->parking() == 0) {
    finish();
    return;
  }
  if (grace_over) {
    log->warn("grace period over: running={} storing={} left unacked for redelivery",
              pipeline->running(), pipeline->storing());
    pipeline->cancelRunning();
    finish();
  }
}

void WorkerApp::Impl::finish() {
  if (finished) return;
  finished = true;
  task_metrics->refresh(metrics::TaskMetrics::WorkerSnapshot{
      false, 0, 0, 0, pipeline->counters().parked, pipeline->counters().parked_unavailable});
  events->offline();  // handed to the broker before its close, like the acks
  revoked->flush();
  broker->close();  // flushes coalesced acks first
  store->close();
  shutdown_timer.reset();
  sigterm.reset();
  sigint.reset();
  // The pipeline's timers (held ETAs, backpressure) and the LLM services (balancer
  // timers, HTTP transfers, the shared buckets' Redis connection) would keep the loop
  // running forever: stop it here; run() then destroys them, which closes their handles.
  uv_stop(&loop);
  log->info("worker stopped");
}

void WorkerApp::Impl::releaseAndCloseLoop() {
  http.reset();  // joins the server's threads before anything they read goes
  metrics_timer.reset();
  // Already closed by finish(), unless build() failed (or threw) before the loop ever ran.
  shutdown_timer.reset();
  sigterm.reset();
  sigint.reset();
  // Broker and result store are closed; release the objects, then let their handles close.
  lag_probe.reset();
  control.reset();
  pipeline.reset();
  events.reset();
  revoked.reset();
  if (llm_metrics) llm_metrics->detach();
  llm.reset();
  broker.reset();
  store.reset();
  dispatcher.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) log->warn("loop closed with handles still open");
}

}  // namespace celeriac::worker::app
