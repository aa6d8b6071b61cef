#pragma once
// WorkerApp::Impl: what a running worker is made of, shared by the files that build it
// (worker_app.cc: wiring, run()) and stop it (worker_app_lifecycle.cc: the HTTP port,
// the metrics tick, signals and the shutdown order).
//
// Not for: anything outside WorkerApp (private: only worker_app*.cc include it).
// Ownership: Impl owns the loop (by value) and every component on it; the declaration
// order of the members is the order nothing may outlive (see releaseAndCloseLoop).
// Loop thread only.

#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/result.h"
#include "worker/amqp/amqp_connection.h"
#include "worker/app/event_dispatcher.h"
#include "worker/app/llm_services.h"
#include "worker/app/remote_control.h"
#include "worker/app/revoked_store.h"
#include "worker/app/task_pipeline.h"
#include "worker/app/worker_app.h"
#include "worker/metrics/health_state.h"
#include "worker/metrics/http_server.h"
#include "worker/metrics/llm_metrics.h"
#include "worker/metrics/task_event_fanout.h"
#include "worker/metrics/task_metrics.h"
#include "worker/redis/result_store.h"
#include "worker/uv/loop_lag_probe.h"
#include "worker/uv/uv_dispatcher.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::worker::app {

struct WorkerApp::Impl {
  // Results that may wait for Redis before the worker stops starting tasks: a bounded
  // backlog keeps memory flat through a Redis outage.
  static constexpr std::size_t kMaxStoreBacklog = 20'000;
  static constexpr std::uint64_t kShutdownPollMs = 50;
  // The metrics tick: stamps the liveness heartbeat, copies the readiness flags and
  // refreshes the gauges that the HTTP port serves.
  static constexpr std::uint64_t kMetricsTickMs = 1000;

  WorkerConfig config;
  uv_loop_t loop{};
  std::unique_ptr<uv::UvDispatcher> dispatcher;
  tasks::TaskRegistry registry;
  std::unique_ptr<redis::ResultStore> store;
  std::unique_ptr<amqp::AmqpConnection> broker;
  std::unique_ptr<TaskPipeline> pipeline;
  std::unique_ptr<LlmServices> llm;
  std::unique_ptr<uv::LoopLagProbe> lag_probe;  // --loop-lag-report
  // Celery's operator tools (events for Flower and `celery events`, remote control for
  // `celery inspect`/`celery control`): one Lamport clock for events and pidbox.
  celery::LamportClock clock;
  std::unique_ptr<RevokedStore> revoked;
  std::unique_ptr<EventDispatcher> events;
  std::unique_ptr<RemoteControl> control;
  // The HTTP port (/metrics, /healthz, /readyz). The server's threads read only `health`
  // (atomics) and `metrics_registry` (prometheus-cpp, thread-safe); the loop writes both,
  // from the pipeline's task events and the 1 s metrics tick. releaseAndCloseLoop() stops
  // the server (joins its threads) before anything they read is destroyed.
  std::shared_ptr<prometheus::Registry> metrics_registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<metrics::TaskMetrics> task_metrics;
  std::unique_ptr<metrics::LlmMetrics> llm_metrics;  // with LLM tasks only
  prometheus::Gauge* key_set_shared = nullptr;       // with key sets only
  metrics::TaskEventFanout task_events;  // the pipeline's sink: Celery's events, then metrics
  metrics::HealthState health;
  std::unique_ptr<metrics::HttpServer> http;
  uv::HandlePtr<uv_timer_t> metrics_timer;
  uv::HandlePtr<uv_signal_t> sigterm;
  uv::HandlePtr<uv_signal_t> sigint;
  uv::HandlePtr<uv_timer_t> shutdown_timer;
  std::shared_ptr<spdlog::logger> log;
  int exit_code = 0;
  bool shutting_down = false;
  bool finished = false;
  std::uint64_t shutdown_started_ms = 0;

  explicit Impl(WorkerConfig c) : config(std::move(c)) {}

  // Makes everything run() needs; an Error (a bad configuration, a handle that cannot be
  // made) says what, and run() then closes what was made.
  common::Result<void> build();
  void startHttp();
  void tickMetrics();
  void onSignal(int signum);
  void beginShutdown();
  void checkShutdown();
  void finish();
  void releaseAndCloseLoop();
};

}  // namespace celeriac::worker::app
