#include "worker/app/worker_app.h"

#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <uv.h>

#include "common/worker_defaults.h"
#include "worker/app/pidfile.h"
#include "worker/app/worker_app_impl.h"
#include "worker/celery/result_keys.h"
#include "worker/redis/chord_store.h"
#include "worker/tasks/builtin_tasks.h"
#include "worker/tasks/celery_builtins.h"
#include "worker/tasks/task_options_config.h"

namespace celeriac::worker::app {

WorkerApp::WorkerApp(WorkerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

WorkerApp::~WorkerApp() = default;

common::Result<void> WorkerApp::Impl::build() {
  log = spdlog::get("celeriac") ? spdlog::get("celeriac")
                                : spdlog::default_logger()->clone("celeriac");
  uv_loop_init(&loop);
  dispatcher = std::make_unique<uv::UvDispatcher>(&loop);
  tasks::registerBuiltinTasks(registry);
  tasks::registerCeleryBuiltins(registry);
  auto services = LlmServices::create(config, *dispatcher, registry);
  if (!services) return services.error();
  llm = std::move(*services);
  // After every task is registered: the config's options name them (a typo is an error).
  if (auto configured = tasks::configureTaskOptions(registry, config.tasks_config, config.data_dir);
      !configured) {
    return configured.error();
  }
  if (llm && !config.queues_given) {
    // Without -Q, a worker with LLM tasks consumes their queues (not `celery`).
    const amqp::QueueSpec like = config.topology.queues.front();
    config.topology.queues.clear();
    for (const std::string& q : llm->queues()) {
      config.topology.queues.push_back(amqp::QueueSpec{q, like.max_priority, like.quorum});
    }
  }

  store = std::make_unique<redis::ResultStore>(
      &loop, config.backend, redis::ResultStoreOptions{.result_expires = config.result_expires},
      redis::ResultStore::Callbacks{
          [this] {
            log->info("result backend connected url={}", config.backend.redacted());
            if (pipeline) pipeline->pump();
          },
          [this](const std::string& reason) {
            log->error(
                "result backend unavailable url={} reason={}; results wait, no new "
                "tasks start",
                config.backend.redacted(), reason);
          }});

  amqp::AmqpOptions amqp_options;
  amqp_options.urls = config.brokers;
  amqp_options.topology = config.topology;
  // Celery's event exchange and remote-control (pidbox) exchanges, and this node's pidbox
  // queue, consumed without acks as Celery does.
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
    // Results kept forever (--result-expires 0): the start counter still goes, after
    // the default result lifetime.
    const auto ttl =
        config.result_expires.count() > 0 ? config.result_expires : common::kDefaultResultExpires;
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
    redis::reportChordPart(
        *store, group_id, score, std::move(part), expires,
        [done = std::move(done)](redis::ChordPartReply reply) {
          done(ChordPartResult{reply.completed, std::move(reply.members),
                               std::move(reply.saved_group), std::move(reply.saved_docs)});
        });
  };
  ports.fetch_chord_leaves = [this](std::string group_id, std::vector<std::string> ids, auto done) {
    redis::fetchChordLeaves(*store, group_id, ids, std::move(done));
  };
  ports.set_chord_size = [this](std::string group_id, std::int64_t size,
                                std::function<void()> done) {
    // Python's set_chord_size(): SETEX + PUBLISH like any result write.
    store->store(celery::groupKey(group_id, ".s"), std::to_string(size), std::move(done));
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
                            .Help(
                                "1 while this replica shares its LLM key set with another "
                                "live replica (every set was leased)")
                            .Register(*metrics_registry)
                            .Add({{"key_set", llm->keySet().name}});
    }
    llm->startLeaseRenewal([this](std::string key, std::string owner, std::chrono::milliseconds ttl,
                                  std::function<void(long long)> done) {
      store->renewLease(std::move(key), std::move(owner), ttl, std::move(done));
    });
  }

  const auto install = [this](int signum) {
    auto made = uv::tryMakeHandle<uv_signal_t>(&loop, this);
    if (made) {
      uv_signal_start(
          made.value().get(),
          [](uv_signal_t* s, int n) noexcept { static_cast<Impl*>(s->data)->onSignal(n); }, signum);
    }
    return made;
  };
  if (config.loop_lag_report.count() > 0) {
    lag_probe = std::make_unique<uv::LoopLagProbe>(
        &loop, config.loop_lag_report, [this](const uv::LoopLagSummary& s) {
          const auto ms = [](std::chrono::microseconds us) {
            return static_cast<double>(us.count()) / 1000.0;
          };
          log->log(
              s.p99 >= std::chrono::milliseconds(50) ? spdlog::level::warn : spdlog::level::info,
              "loop lag p50_ms={:.1f} p99_ms={:.1f} max_ms={:.1f} samples={}", ms(s.p50), ms(s.p99),
              ms(s.max), s.samples);
        });
  }
  auto term = install(SIGTERM);
  if (!term) return term.error().in("signal handler");
  sigterm = std::move(*term);
  auto interrupt = install(SIGINT);
  if (!interrupt) return interrupt.error().in("signal handler");
  sigint = std::move(*interrupt);
  metrics_timer = uv::makeHandle<uv_timer_t>(&loop, this);
  uv_timer_start(
      metrics_timer.get(),
      [](uv_timer_t* t) noexcept { static_cast<Impl*>(t->data)->tickMetrics(); }, 0,
      kMetricsTickMs);
  // It must not keep a loop alive that has nothing else to do.
  uv_unref(uv::asHandle(metrics_timer));
  shutdown_timer = uv::makeHandle<uv_timer_t>(&loop, this);
  return {};
}

int WorkerApp::run() {
  Impl& s = *impl_;
  Pidfile pidfile;  // before anything starts: a second worker on it must not connect
  if (!s.config.pidfile.empty()) {
    if (auto created = pidfile.create(s.config.pidfile); !created) {
      spdlog::critical("--pidfile: {}", created.error().message);
      return 2;
    }
  }
  common::Result<void> built = common::Error{"not built"};
  try {
    built = s.build();
  } catch (...) {
    // A library that throws while being made (libcurl's global init, say) after the loop
    // has handles: close them so nothing leaks, then let main report it.
    s.releaseAndCloseLoop();
    throw;
  }
  if (!built) {
    // A bad configuration (a task option, a prompt, the balancer's config): close what
    // was made, say why, and exit 2, in the words main uses for what is thrown.
    s.releaseAndCloseLoop();
    spdlog::critical("cannot start: {}", built.error().message);
    return 2;
  }
  for (const std::string& notice : s.config.notices) s.log->info("{}", notice);
  std::string queue_names;
  for (const auto& q : s.config.topology.queues) {
    queue_names += (queue_names.empty() ? "" : ",") + q.name;
  }
  s.log->info(
      "celeriac worker {} starting: broker={} backend={} queues={} concurrency={} "
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
