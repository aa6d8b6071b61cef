#include "worker/app/worker_app.h"

#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <uv.h>

#include "worker/amqp/amqp_connection.h"
#include "worker/app/event_dispatcher.h"
#include "worker/app/llm_services.h"
#include "worker/app/pidfile.h"
#include "worker/app/remote_control.h"
#include "worker/app/revoked_store.h"
#include "worker/app/task_pipeline.h"
#include "worker/metrics/health_state.h"
#include "worker/metrics/http_server.h"
#include "worker/metrics/llm_metrics.h"
#include "worker/metrics/task_event_fanout.h"
#include "worker/metrics/task_metrics.h"
#include "worker/redis/chord_store.h"
#include "worker/tasks/celery_builtins.h"
#include "worker/redis/result_store.h"
#include "worker/tasks/builtin_tasks.h"
#include "worker/tasks/task_options_config.h"
#include "worker/uv/loop_lag_probe.h"
#include "worker/uv/uv_dispatcher.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::worker::app {

namespace {
// Results that may wait for Redis before the worker stops starting tasks: a bounded
// backlog keeps memory flat through a Redis outage.
constexpr std::size_t kMaxStoreBacklog = 20'000;
constexpr std::uint64_t kShutdownPollMs = 50;
// The metrics tick: stamps the liveness heartbeat, copies the readiness flags and
// refreshes the gauges (issue 11).
constexpr std::uint64_t kMetricsTickMs = 1000;
}  // namespace

struct WorkerApp::Impl {
  WorkerConfig config;
  uv_loop_t loop{};
  std::unique_ptr<uv::UvDispatcher> dispatcher;
  tasks::TaskRegistry registry;
  std::unique_ptr<redis::ResultStore> store;
  std::unique_ptr<amqp::AmqpConnection> broker;
  std::unique_ptr<TaskPipeline> pipeline;
  std::unique_ptr<LlmServices> llm;
  std::unique_ptr<uv::LoopLagProbe> lag_probe;  // --loop-lag-report
  // Celery's operator tools (issue 10): one Lamport clock for events and pidbox.
  celery::LamportClock clock;
  std::unique_ptr<RevokedStore> revoked;
  std::unique_ptr<EventDispatcher> events;
  std::unique_ptr<RemoteControl> control;
  // The HTTP port (issue 11). The server's threads read only `health` (atomics) and
  // `metrics_registry` (prometheus-cpp, thread-safe); the loop writes both, from the
  // pipeline's task events and the 1 s metrics tick. Declared before what they read is
  // destroyed: run() stops the server first.
  std::shared_ptr<prometheus::Registry> metrics_registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<metrics::TaskMetrics> task_metrics;
  std::unique_ptr<metrics::LlmMetrics> llm_metrics;  // with LLM tasks only
  prometheus::Gauge* key_set_shared = nullptr;       // with key sets only
  metrics::TaskEventFanout task_events;  // the pipeline's sink: Celery's events, then metrics
  metrics::HealthState health;
  std::unique_ptr<metrics::HttpServer> http;
  uv::HandlePtr<uv_timer_t> metrics_timer;
  uv_signal_t* sigterm = nullptr;
  uv_signal_t* sigint = nullptr;
  uv_timer_t* shutdown_timer = nullptr;
  std::shared_ptr<spdlog::logger> log;
  int exit_code = 0;
  bool shutting_down = false;
  bool finished = false;
  std::uint64_t shutdown_started_ms = 0;

  explicit Impl(WorkerConfig c) : config(std::move(c)) {}

  void build();
  void buildOperatorTools();
  void startHttp();
  void tickMetrics();
  void onSignal(int signum);
  void beginShutdown();
  void checkShutdown();
  void finish();
  void releaseAndCloseLoop();
};

WorkerApp::WorkerApp(WorkerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

WorkerApp::~WorkerApp() = default;

void WorkerApp::Impl::build() {
  log = spdlog::get("celeriac") ? spdlog::get("celeriac")
                                : spdlog::default_logger()->clone("celeriac");
  uv_loop_init(&loop);
  dispatcher = std::make_unique<uv::UvDispatcher>(&loop);
  tasks::registerBuiltinTasks(registry);
  tasks::registerCeleryBuiltins(registry);
  llm = LlmServices::create(config, *dispatcher, registry);
  // After every task is registered: the config's options name them (a typo is an error).
  tasks::configureTaskOptions(registry, config.tasks_config, config.data_dir);
  if (llm && !config.queues_given) {
    // Without -Q, a worker with LLM tasks consumes their queues (not `celery`).
    const amqp::QueueSpec like = config.topology.queues.front();
    config.topology.queues.clear();
    for (const std::string& q : llm->queues()) {
      config.topology.queues.push_back(amqp::QueueSpec{q, like.max_priority, like.quorum});
    }
  }

  store = std::make_unique<redis::ResultStore>(
      &loop, config.backend,
      redis::ResultStoreOptions{.result_expires = config.result_expires},
      redis::ResultStore::Callbacks{
          [this] {
            log->info("result backend connected url={}", config.backend.redacted());
            if (pipeline) pipeline->pump();
          },
          [this](const std::string& reason) {
            log->error("result backend unavailable url={} reason={}; results wait, no new "
                       "tasks start", config.backend.redacted(), reason);
          }});

  amqp::AmqpOptions amqp_options;
  amqp_options.urls = config.brokers;
  amqp_options.topology = config.topology;
  // Celery's event exchange and the node's remote-control queue (spec 6.1, 7.1).
  amqp_options.topology.exchanges = {amqp::ExchangeSpec{"celeryev", "topic", true, false},
                                     RemoteControl::pidboxExchange(),
                                     RemoteControl::replyExchange()};
  amqp_options.topology.auto_ack_queues = {RemoteControl::pidboxQueue(config.hostname)};
  amqp_options.prefetch = config.prefetch();
  amqp_options.heartbeat = config.heartbeat;
  broker = std::make_unique<amqp::AmqpConnection>(
      &loop, *dispatcher, amqp_options,
      amqp::AmqpConnection::Callbacks{
          [this](amqp::Delivery d) { pipeline->onDelivery(std::move(d)); },
          [this](std::uint64_t generation) {
            log->info("broker connected generation={} queues={} prefetch={}", generation,
                      config.topology.queues.size(), broker->prefetch());
            events->connected();
          },
          [this](const std::string& reason) {
            log->error("broker connection lost: {}; reconnecting", reason);
            pipeline->onChannelLost();
          },
          [this](const std::string& reason) {
            log->critical("broker refused our declarations: {}", reason);
            exit_code = 2;
            finish();
          },
          [this](amqp::Delivery d) { control->onRequest(d); }});

  PipelinePorts ports;
  ports.ack = [this](amqp::DeliveryRef ref) { broker->ack(ref); };
  ports.reject = [this](amqp::DeliveryRef ref, bool requeue) { broker->reject(ref, requeue); };
  ports.set_prefetch = [this](std::uint16_t n) { broker->setPrefetch(n); };
  ports.store = [this](std::string key, std::string doc, std::function<void()> done) {
    store->store(std::move(key), std::move(doc), std::move(done));
  };
  ports.count_start = [this](std::string key, std::function<void(long long)> done) {
    const auto ttl = config.result_expires.count() > 0 ? config.result_expires
                                                       : std::chrono::seconds(86400);
    store->countStart(std::move(key), ttl, std::move(done));
  };
  ports.forget_starts = [this](std::string key) { store->forget(std::move(key)); };
  ports.store_accepting = [this] {
    return store->connected() && store->backlog() < kMaxStoreBacklog;
  };
  ports.publish = [this](amqp::OutgoingMessage m, std::function<void(bool)> done) {
    broker->publish(std::move(m), std::move(done));
  };
  revoked = std::make_unique<RevokedStore>(*dispatcher, config.statedb);
  ports.is_revoked = [this](const std::string& id) { return revoked->contains(id); };
  events = std::make_unique<EventDispatcher>(
      *dispatcher, clock,
      EventDispatcher::Options{config.hostname, static_cast<int>(getpid()), config.task_events,
                               config.worker_heartbeat, config.event_heartbeat_interval},
      EventDispatcher::Ports{
          [this](amqp::OutgoingMessage m) { return broker->publishTransient(std::move(m)); },
          [this] { return pipeline->running(); },
          [this] {
            const PipelineCounters& c = pipeline->counters();
            return c.succeeded + c.failed + c.revoked;
          }});
  task_metrics = std::make_unique<metrics::TaskMetrics>(*metrics_registry, config.hostname);
  task_events.add(events.get());
  task_events.add(task_metrics.get());
  ports.chord_part = [this, expires = config.result_expires](
                         std::string group_id, std::string score, std::string part,
                         std::function<void(ChordPartResult)> done) {
    redis::reportChordPart(*store, group_id, score, std::move(part), expires,
                           [done = std::move(done)](redis::ChordPartReply reply) {
                             done(ChordPartResult{reply.completed, std::move(reply.members),
                                                  std::move(reply.saved_group),
                                                  std::move(reply.saved_docs)});
                           });
  };
  ports.fetch_chord_leaves = [this](std::string group_id, std::vector<std::string> ids, auto done) {
    redis::fetchChordLeaves(*store, group_id, ids, std::move(done));
  };
  ports.set_chord_size = [this](std::string group_id, std::int64_t size,
                                std::function<void()> done) {
    // Python's set_chord_size(): SETEX + PUBLISH like any result write.
    store->store(redis::groupKey(group_id, ".s"), std::to_string(size), std::move(done));
  };
  ports.events = &task_events;
  PipelineOptions options;
  options.concurrency = config.concurrency;
  options.prefetch = config.prefetch();
  options.hostname = config.hostname;
  options.acks_late = config.acks_late;
  options.track_started = config.track_started;
  options.result_extended = config.result_extended;
  options.pid = static_cast<int>(getpid());
  options.eta_hold_limit = config.eta_hold_limit;
  options.delay_tiers = config.topology.delay_tiers;
  options.max_parked = config.max_parked;
  options.max_message_size = config.max_message_size;
  options.max_task_crashes = config.max_task_crashes;
  if (llm) options.task_queues = llm->taskQueues();
  options.task_routes = config.task_routes;
  options.default_soft_time_limit = config.soft_time_limit;
  options.default_hard_time_limit = config.time_limit;
  pipeline = std::make_unique<TaskPipeline>(*dispatcher, registry, std::move(ports), options);
  control = std::make_unique<RemoteControl>(RemoteControl::Parts{
      *dispatcher, *pipeline, *broker, *revoked, *events, clock, registry, config,
      [this] {
        if (!shutting_down) beginShutdown();
      },
      [this]() -> nlohmann::json {
        if (!llm || llm->keySet().name.empty()) return nullptr;
        const LlmServices::KeySet& k = llm->keySet();
        return {{"name", k.name}, {"pinned", k.pinned}, {"leased", k.leased}, {"shared", k.shared}};
      }});
  if (llm) {
    llm_metrics = std::make_unique<metrics::LlmMetrics>(*metrics_registry);
    llm_metrics->attach(llm->balancer());
    if (!llm->keySet().name.empty()) {
      key_set_shared = &prometheus::BuildGauge()
                            .Name("celeriac_key_set_shared")
                            .Help("1 while this replica shares its LLM key set with another "
                                  "live replica (every set was leased)")
                            .Register(*metrics_registry)
                            .Add({{"key_set", llm->keySet().name}});
    }
    llm->startLeaseRenewal([this](std::string key, std::string owner,
                                  std::chrono::milliseconds ttl,
                                  std::function<void(long long)> done) {
      store->renewLease(std::move(key), std::move(owner), ttl, std::move(done));
    });
  }

  const auto install = [this](int signum) {
    auto* h = new uv_signal_t;
    uv_signal_init(&loop, h);
    h->data = this;
    uv_signal_start(
        h, [](uv_signal_t* s, int n) noexcept { static_cast<Impl*>(s->data)->onSignal(n); },
        signum);
    return h;
  };
  if (config.loop_lag_report.count() > 0) {
    lag_probe = std::make_unique<uv::LoopLagProbe>(
        &loop, config.loop_lag_report, [this](const uv::LoopLagSummary& s) {
          const auto ms = [](std::chrono::microseconds us) {
            return static_cast<double>(us.count()) / 1000.0;
          };
          log->log(s.p99 >= std::chrono::milliseconds(50) ? spdlog::level::warn
                                                          : spdlog::level::info,
                   "loop lag p50_ms={:.1f} p99_ms={:.1f} max_ms={:.1f} samples={}", ms(s.p50),
                   ms(s.p99), ms(s.max), s.samples);
        });
  }
  sigterm = install(SIGTERM);
  sigint = install(SIGINT);
  metrics_timer.reset(new uv_timer_t);
  uv_timer_init(&loop, metrics_timer.get());
  metrics_timer->data = this;
  uv_timer_start(
      metrics_timer.get(),
      [](uv_timer_t* t) noexcept { static_cast<Impl*>(t->data)->tickMetrics(); }, 0,
      kMetricsTickMs);
  // It must not keep a loop alive that has nothing else to do.
  uv_unref(reinterpret_cast<uv_handle_t*>(metrics_timer.get()));
  shutdown_timer = new uv_timer_t;
  uv_timer_init(&loop, shutdown_timer);
  shutdown_timer->data = this;
}

void WorkerApp::Impl::startHttp() {
  if (config.http_port == 0) return;
  std::string error;
  http = metrics::HttpServer::start(
      config.http_bind, config.http_port,
      metrics::HttpServer::Routes{
          [registry = metrics_registry] {
            return prometheus::TextSerializer().Serialize(registry->Collect());
          },
          [this] { return health.healthz(std::chrono::steady_clock::now()); },
          [this] { return health.readyz(); }},
      error);
  if (http) {
    log->info("HTTP on {}:{}: /metrics /healthz /readyz", config.http_bind, http->port());
  } else {
    // Not fatal: tasks still run (a second worker on one host, a taken port). A
    // liveness probe on this port fails, which is how an orchestrator notices.
    log->error("{}; no /metrics, /healthz or /readyz (--http-port 0 turns the port off)",
               error);
  }
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
        pipeline->running() + pipeline->reserved() + pipeline->held(),
        pipeline->prefetchInForce(), c.parked, c.parked_unavailable});
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
  shutting_down = true;
  health.setShuttingDown(true);  // /readyz fails at once, not at the next tick
  shutdown_started_ms = uv_now(&loop);
  pipeline->stopStarting();
  broker->cancelConsumers();
  uv_timer_start(
      shutdown_timer,
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
  uv_timer_stop(shutdown_timer);
  uv::closeAndDelete(shutdown_timer);
  uv::closeAndDelete(sigterm);
  uv::closeAndDelete(sigint);
  // The pipeline's timers (held ETAs, backpressure) and the LLM services (balancer
  // timers, HTTP transfers, the shared buckets' Redis connection) would keep the loop
  // running forever: stop it here; run() then destroys them, which closes their handles.
  uv_stop(&loop);
  log->info("worker stopped");
}

void WorkerApp::Impl::releaseAndCloseLoop() {
  http.reset();  // joins the server's threads before anything they read goes
  metrics_timer.reset();
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

int WorkerApp::run() {
  Impl& s = *impl_;
  Pidfile pidfile;  // before anything starts: a second worker on it must not connect
  if (!s.config.pidfile.empty()) {
    std::string error;
    if (!pidfile.create(s.config.pidfile, error)) {
      spdlog::critical("--pidfile: {}", error);
      return 2;
    }
  }
  try {
    s.build();
  } catch (...) {
    // A start-up error (a bad task option, say) after the loop has handles: close them
    // so nothing leaks, then let main report the error.
    s.releaseAndCloseLoop();
    throw;
  }
  for (const std::string& notice : s.config.notices) s.log->info("{}", notice);
  std::string queue_names;
  for (const auto& q : s.config.topology.queues) {
    queue_names += (queue_names.empty() ? "" : ",") + q.name;
  }
  s.log->info("celeriac worker {} starting: broker={} backend={} queues={} concurrency={} "
              "prefetch={} acks_late={}",
              s.config.hostname, s.config.brokers.front().redacted(), s.config.backend.redacted(),
              queue_names, s.config.concurrency, s.config.prefetch(), s.config.acks_late);
  s.startHttp();
  s.store->start();
  s.broker->start();
  uv_run(&s.loop, UV_RUN_DEFAULT);  // returns at finish()
  s.releaseAndCloseLoop();
  return s.exit_code;
}

}  // namespace celeriac::worker::app
