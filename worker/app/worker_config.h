#pragma once
// WorkerConfig: the `celeriac worker` command line, named like `celery worker`.
//
//   -Q/--queues a,b   -c/--concurrency N   --prefetch-multiplier M   -n/--hostname NAME
//   -l/--loglevel L   --broker URL   --result-backend URL   (or CELERY_BROKER_URL /
//   CELERY_RESULT_BACKEND in the environment, as in Celery; the flag wins)
//
// -c is the number of tasks in flight at once, not processes. Parsing is pure apart
// from the environment and host name passed in; errors are returned as text that
// never quotes a password.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/worker_defaults.h"
#include "worker/amqp/broker_url.h"
#include "worker/amqp/topology.h"
#include "worker/redis/redis_url.h"

namespace celeriac::worker::app {

struct WorkerConfig {
  std::vector<amqp::BrokerUrl> brokers;
  redis::RedisUrl backend;
  amqp::Topology topology;
  bool queues_given = false;  // -Q was on the command line
  std::size_t concurrency = common::kDefaultConcurrency;
  // --autoscale MAX,MIN was given: MIN (MAX is `concurrency`). As with Celery's
  // autoscaler, the `autoscale` command then works and pool_grow/pool_shrink refuse.
  std::optional<std::size_t> autoscale_min;
  std::size_t prefetch_multiplier = common::kDefaultPrefetchMultiplier;
  std::string hostname;  // nodename, e.g. celeriac@host
  std::string loglevel = "info";
  std::string log_format = "text";  // --log-format: text, or json (one object per line)
  bool acks_late = true;
  bool track_started = false;
  bool result_extended = false;
  std::chrono::seconds result_expires = common::kDefaultResultExpires;
  std::chrono::seconds shutdown_grace{30};
  std::chrono::seconds heartbeat{60};
  std::chrono::seconds eta_hold_limit{10};
  std::chrono::seconds max_parked{3600};
  std::size_t max_message_size = std::size_t{16} << 20;  // bytes; larger bodies are refused
  int max_task_crashes = 3;  // redelivered runs that never finished before a poison FAILURE
  // --loop-lag-report: log the loop-lag probe's p50/p99/max this often (0: no probe).
  std::chrono::milliseconds loop_lag_report{0};
  // --http-port / --http-bind: /metrics, /healthz, /readyz (port 0: off).
  std::uint16_t http_port = 9808;
  std::string http_bind = "0.0.0.0";
  // Celery's operator flags.
  bool task_events = false;      // -E: task-* events from the start (else enable_events)
  bool worker_heartbeat = true;  // --without-heartbeat: no worker-online/heartbeat/offline
  std::chrono::milliseconds event_heartbeat_interval{2000};  // --heartbeat-interval
  std::string pidfile;                    // --pidfile: written at start, removed at exit
  std::string logfile;                    // --logfile: log there instead of stderr
  std::string statedb;                    // --statedb: revoked ids kept across restarts
  std::optional<double> time_limit;       // --time-limit: default hard limit (s)
  std::optional<double> soft_time_limit;  // --soft-time-limit: default soft limit (s)
  // Celery flags accepted for an existing argument line that mean nothing for one
  // event loop: one line each is logged at start, saying so.
  std::vector<std::string> notices;
  // LLM tasks: the balancer config (YAML; else LLM_ENDPOINTS in the
  // environment; else no LLM tasks), the LLM tasks config, and where schemas/ and
  // worker/tasks/prompts/ live.
  std::vector<std::pair<std::string, std::string>> task_routes;  // glob -> queue
  std::string llm_config;
  std::string tasks_config;
  std::string data_dir;
  // Key-set leases in Redis (worker/redis/key_set_lease.h): how long a lease lives
  // unless renewed (--key-set-lease-ttl); a crashed replica's set is free after this.
  std::chrono::milliseconds key_set_lease_ttl{30'000};
  std::map<std::string, std::string> env;  // the process environment, for the balancer

  [[nodiscard]] std::uint16_t prefetch() const;
};

// Expands Celery's nodename placeholders: %h (full host), %n (short host), %d (domain).
std::string expandHostname(const std::string& pattern, const std::string& fqdn);

// What parseWorkerArgs() found: a config to run with, or (for --help or a bad flag or
// value) no config, the text to print and the exit code.
struct ParseOutcome {
  std::optional<WorkerConfig> config;
  int exit_code = 0;
  std::string message;  // help text or error to print
};
// `installed_data_dir`: where an installed binary finds schemas/ and prompts
// (<prefix>/share/celeriac beside <prefix>/bin/celeriac), used when it exists and
// neither --data-dir nor CELERIAC_DATA_DIR says otherwise; else the source tree.
ParseOutcome parseWorkerArgs(int argc, const char* const* argv,
                             const std::map<std::string, std::string>& env, const std::string& fqdn,
                             const std::string& installed_data_dir = {});

}  // namespace celeriac::worker::app
