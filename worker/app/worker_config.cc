#include "worker/app/worker_config.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "worker/app/celery_worker_flags.h"
#include "worker/app/parking.h"

namespace celeriac::worker::app {

std::uint16_t WorkerConfig::prefetch() const {
  // Celery: multiplier 0 means "unlimited"; AMQP's 0 prefetch means the same.
  const std::size_t p = concurrency * prefetch_multiplier;
  return static_cast<std::uint16_t>(std::min<std::size_t>(p, std::numeric_limits<std::uint16_t>::max()));
}

std::string expandHostname(const std::string& pattern, const std::string& fqdn) {
  const auto dot = fqdn.find('.');
  const std::string shortname = fqdn.substr(0, dot);
  const std::string domain = dot == std::string::npos ? std::string() : fqdn.substr(dot + 1);
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      const char c = pattern[i + 1];
      if (c == 'h') { out += fqdn; ++i; continue; }
      if (c == 'n') { out += shortname; ++i; continue; }
      if (c == 'd') { out += domain; ++i; continue; }
      if (c == '%') { out += '%'; ++i; continue; }
    }
    out += pattern[i];
  }
  // Celery appends @host to a bare name.
  if (out.find('@') == std::string::npos) out += "@" + fqdn;
  return out;
}

ParseOutcome parseWorkerArgs(int argc, const char* const* argv,
                             const std::map<std::string, std::string>& env,
                             const std::string& fqdn, const std::string& installed_data_dir) {
  ParseOutcome outcome;
  WorkerConfig cfg;
  CLI::App cli{"celeriac worker: consumes Celery tasks from RabbitMQ, stores results in Redis",
               "celeriac worker"};
  std::string queues = "celery";
  std::string broker;
  std::string backend;
  std::string hostname = "celery@%h";  // Celery's default: probes address it
  bool acks_early = false;
  std::optional<int> max_priority;
  std::string queue_type = "classic";
  long result_expires_s = common::kDefaultResultExpires.count();
  long grace_s = 30;
  long heartbeat_s = 60;
  long eta_hold_s = 10;
  long max_parked_s = 3600;
  double loop_lag_report_s = 0;
  double key_set_lease_ttl_s = 30;
  std::optional<int> http_port;
  std::string task_routes;
  std::string delay_tiers = "5s,30s,2m,10m,1h";
  CeleryOperatorFlags celery_flags;

  auto* queues_option =
      cli.add_option("-Q,--queues", queues, "Comma-separated queues to consume (default: "
                                            "the LLM tasks' queues if configured, else celery)")
          ->capture_default_str();
  cli.add_option("-c,--concurrency", cfg.concurrency, "Tasks in flight at once (not processes)")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  cli.add_option("--prefetch-multiplier", cfg.prefetch_multiplier,
                 "Prefetch = concurrency x this (0 = unlimited)")
      ->check(CLI::Range(0, 1000))->capture_default_str();
  cli.add_option("-n,--hostname", hostname, "Node name; %h, %n, %d expand as in Celery")
      ->capture_default_str();
  cli.add_option("-l,--loglevel", cfg.loglevel, "debug, info, warning, error, critical")
      ->check(CLI::IsMember({"trace", "debug", "info", "warning", "warn", "error", "critical"},
                            CLI::ignore_case))
      ->capture_default_str();
  cli.add_option("--log-format", cfg.log_format,
                 "text, or json: one JSON object per line (level, time, logger, message)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cli.add_option("-b,--broker", broker, "AMQP URL(s), ';'-separated for failover "
                                        "[env CELERY_BROKER_URL]");
  cli.add_option("--result-backend", backend, "redis:// URL [env CELERY_RESULT_BACKEND]");
  cli.add_flag("--acks-early", acks_early,
               "Ack when a task starts (Celery's default) instead of after its result is stored");
  cli.add_flag("--track-started", cfg.track_started, "Store STARTED before running a task");
  cli.add_flag("--result-extended", cfg.result_extended,
               "Store name, args, kwargs, worker, retries and queue with results");
  cli.add_option("--result-expires", result_expires_s, "Result TTL in seconds (0 = never)")
      ->check(CLI::Range(0L, 315360000L))->capture_default_str();
  cli.add_option("--shutdown-grace", grace_s, "Seconds to let running tasks finish on SIGTERM")
      ->check(CLI::Range(0L, 86400L))->capture_default_str();
  cli.add_option("--heartbeat", heartbeat_s, "AMQP heartbeat in seconds (0 = off)")
      ->check(CLI::Range(0L, 3600L))->capture_default_str();
  cli.add_option("--queue-max-priority", max_priority,
                 "Declare queues with x-max-priority (must match the Python app's setting)")
      ->check(CLI::Range(1, 255));
  cli.add_option("--delay-tiers", delay_tiers,
                 "Delay-tier queues for parked tasks (celeriac.delay.<tier>); empty: never park")
      ->capture_default_str();
  cli.add_option("--eta-hold-limit", eta_hold_s,
                 "ETAs further than this many seconds are parked, not held in memory")
      ->check(CLI::Range(0L, 86400L))->capture_default_str();
  cli.add_option("--task-routes", task_routes,
                 "Celery task_routes for chain steps and callbacks with no queue: "
                 "'rules.*=rule-retriever,report=reports' (glob=queue)");
  cli.add_option("--max-message-size", cfg.max_message_size,
                 "Refuse a task message whose body is larger than this (FAILURE "
                 "InvalidTaskError, rejected without requeue); bytes, or with a unit: 16MiB")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cli.add_option("--max-task-crashes", cfg.max_task_crashes,
                 "A message whose runs ended the worker this many times (redelivered, never "
                 "finished; counted in Redis across replicas) fails with WorkerLostError and "
                 "is rejected without requeue (0 = never)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cli.add_option("--max-parked", max_parked_s,
                 "Seconds a task may stay parked while every model is down before it fails "
                 "with AllModelsUnavailable")
      ->check(CLI::Range(1L, 604800L))->capture_default_str();
  cli.add_option("--loop-lag-report", loop_lag_report_s,
                 "Log the event loop's lag (p50/p99/max of a 10 ms timer) every this many "
                 "seconds (0 = off)")
      ->check(CLI::Range(0.0, 86400.0));
  cli.add_option("--http-port", http_port,
                 "Port serving /metrics, /healthz and /readyz (0 = off) [env "
                 "CELERIAC_HTTP_PORT; default 9808]")
      ->check(CLI::Range(0, 65535));
  cli.add_option("--http-bind", cfg.http_bind, "Address the HTTP port listens on")
      ->capture_default_str();
  cli.add_option("--llm-config", cfg.llm_config,
                 "Balancer YAML (endpoints, keys, routes, prices) [env CELERIAC_LLM_CONFIG; "
                 "or LLM_ENDPOINTS...]");
  cli.add_option("--tasks-config", cfg.tasks_config,
                 "Tasks config: LLM task names, queues, prompts, routes, and Celery's per-task "
                 "options (task_options) for every task; default: shipped one");
  cli.add_option("--key-set-lease-ttl", key_set_lease_ttl_s,
                 "Seconds a replica's key-set lease in Redis lives unless renewed (a crashed "
                 "replica's set is taken over after this)")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  cli.add_option("--data-dir", cfg.data_dir,
                 "Directory holding schemas/ and worker/tasks/prompts/ [env CELERIAC_DATA_DIR]");
  cli.add_option("--queue-type", queue_type, "classic or quorum (also for delay queues)")
      ->check(CLI::IsMember({"classic", "quorum"}))->capture_default_str();
  addCeleryOperatorFlags(cli, cfg, celery_flags);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out;
    outcome.exit_code = cli.exit(e, out, out);
    outcome.message = out.str();
    return outcome;
  }

  auto env_or = [&env](const char* name) -> std::string {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  };
  if (broker.empty()) broker = env_or("CELERY_BROKER_URL");
  if (broker.empty()) broker = "amqp://guest:guest@127.0.0.1:5672//";
  if (backend.empty()) backend = env_or("CELERY_RESULT_BACKEND");
  if (cfg.llm_config.empty()) cfg.llm_config = env_or("CELERIAC_LLM_CONFIG");
  if (!http_port && !env_or("CELERIAC_HTTP_PORT").empty()) {
    const std::string text = env_or("CELERIAC_HTTP_PORT");
    char* end = nullptr;
    const long port = std::strtol(text.c_str(), &end, 10);
    if (end == text.c_str() || *end != '\0' || port < 0 || port > 65535) {
      outcome.exit_code = 2;
      outcome.message = "CELERIAC_HTTP_PORT: '" + text + "' is not a port (0-65535)";
      return outcome;
    }
    http_port = static_cast<int>(port);
  }
  if (http_port) cfg.http_port = static_cast<std::uint16_t>(*http_port);
  if (cfg.data_dir.empty()) cfg.data_dir = env_or("CELERIAC_DATA_DIR");
  if (cfg.data_dir.empty()) cfg.data_dir = installed_data_dir;
  if (cfg.data_dir.empty()) cfg.data_dir = CELERIAC_DEFAULT_DATA_DIR;
  cfg.env = env;
  if (backend.empty()) backend = "redis://127.0.0.1:6379/0";

  auto brokers = amqp::parseBrokerUrls(broker);
  if (!brokers) {
    outcome.exit_code = 2;
    outcome.message = brokers.error().in("--broker").message;
    return outcome;
  }
  cfg.brokers = std::move(brokers).value();
  auto redis_url = redis::parseRedisUrl(backend);
  if (!redis_url) {
    outcome.exit_code = 2;
    outcome.message = redis_url.error().in("--result-backend").message;
    return outcome;
  }
  cfg.backend = std::move(redis_url).value();

  std::stringstream qs(queues);
  for (std::string q; std::getline(qs, q, ',');) {
    q.erase(0, q.find_first_not_of(" \t"));
    q.erase(q.find_last_not_of(" \t") + 1);
    if (q.empty()) continue;
    if (q.size() > 255) {
      outcome.exit_code = 2;
      outcome.message = "--queues: queue names are at most 255 bytes";
      return outcome;
    }
    cfg.topology.queues.push_back(amqp::QueueSpec{q, max_priority, queue_type == "quorum"});
  }
  auto tiers = parseDelayTiers(delay_tiers);
  if (!tiers) {
    outcome.exit_code = 2;
    outcome.message = tiers.error().in("--delay-tiers").message;
    return outcome;
  }
  cfg.topology.delay_tiers = std::move(tiers).value();
  cfg.topology.quorum_delay_queues = queue_type == "quorum";
  cfg.eta_hold_limit = std::chrono::seconds(eta_hold_s);
  cfg.max_parked = std::chrono::seconds(max_parked_s);
  cfg.loop_lag_report = std::chrono::milliseconds(static_cast<long>(loop_lag_report_s * 1000));
  cfg.key_set_lease_ttl = std::chrono::milliseconds(static_cast<long>(key_set_lease_ttl_s * 1000));
  std::stringstream routes(task_routes);
  for (std::string route; std::getline(routes, route, ',');) {
    route.erase(0, route.find_first_not_of(' '));
    route.erase(route.find_last_not_of(' ') + 1);
    if (route.empty()) continue;
    const auto eq = route.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == route.size()) {
      outcome.exit_code = 2;
      outcome.message = "--task-routes: '" + route + "' must be pattern=queue";
      return outcome;
    }
    cfg.task_routes.emplace_back(route.substr(0, eq), route.substr(eq + 1));
  }
  if (cfg.topology.queues.empty()) {
    outcome.exit_code = 2;
    outcome.message = "--queues: give at least one queue name";
    return outcome;
  }
  cfg.queues_given = queues_option->count() > 0;
  cfg.acks_late = !acks_early;
  cfg.hostname = expandHostname(hostname, fqdn);
  cfg.result_expires = std::chrono::seconds(result_expires_s);
  cfg.shutdown_grace = std::chrono::seconds(grace_s);
  cfg.heartbeat = std::chrono::seconds(heartbeat_s);
  if (auto applied = applyCeleryOperatorFlags(celery_flags, cfg); !applied) {
    outcome.exit_code = 2;
    outcome.message = applied.error().message;
    return outcome;
  }
  outcome.config = std::move(cfg);
  return outcome;
}

}  // namespace celeriac::worker::app
