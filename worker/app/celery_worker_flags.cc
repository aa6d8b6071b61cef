#include "worker/app/celery_worker_flags.h"

#include <charconv>

namespace celeriac::worker::app {

namespace {

// "MAX,MIN" (Celery's order) or "MAX".
bool parseAutoscale(const std::string& text, std::size_t& max, std::size_t& min) {
  const auto comma = text.find(',');
  const std::string max_text = text.substr(0, comma);
  const std::string min_text = comma == std::string::npos ? "0" : text.substr(comma + 1);
  const auto parse = [](const std::string& s, std::size_t& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
  };
  return parse(max_text, max) && parse(min_text, min) && max >= 1 && min <= max;
}

}  // namespace

void addCeleryOperatorFlags(CLI::App& cli, WorkerConfig& config, CeleryOperatorFlags& flags) {
  cli.add_flag("-E,--task-events,--events", config.task_events,
               "Send task-* events (Celery's -E); the enable_events command does it later");
  cli.add_flag("--without-gossip", flags.without_gossip,
               "Accepted as in Celery; celeriac never gossips");
  cli.add_flag("--without-mingle", flags.without_mingle,
               "Accepted as in Celery; celeriac never asks peers at start (it answers hello)");
  cli.add_flag("--without-heartbeat", flags.without_heartbeat,
               "Send no worker-online/heartbeat/offline events");
  cli.add_option("--heartbeat-interval", flags.heartbeat_interval_s,
                 "Seconds between worker-heartbeat events")
      ->check(CLI::Range(1L, 3600L))
      ->capture_default_str();
  cli.add_option("-O", flags.optimization, "Accepted as in Celery (default, fair); no effect")
      ->check(CLI::IsMember({"default", "fair"}));
  cli.add_option("-P,--pool", flags.pool, "Accepted as in Celery; celeriac has one event loop")
      ->check(CLI::IsMember({"prefork", "eventlet", "gevent", "solo", "processes", "threads",
                             "custom"}));
  cli.add_option("-A,--app", flags.app, "Accepted as in Celery; tasks are celeriac's own");
  cli.add_option("--autoscale", flags.autoscale,
                 "MAX,MIN as in Celery: celeriac holds MAX tasks in flight (-c MAX)");
  cli.add_option("--max-tasks-per-child", flags.max_tasks_per_child,
                 "Accepted as in Celery; there are no child processes");
  cli.add_option("--max-memory-per-child", flags.max_memory_per_child,
                 "Accepted as in Celery; there are no child processes");
  cli.add_option("--time-limit", flags.time_limit,
                 "Hard time limit in seconds for tasks whose message sets none")
      ->check(CLI::PositiveNumber);
  cli.add_option("--soft-time-limit", flags.soft_time_limit,
                 "Soft time limit in seconds for tasks whose message sets none")
      ->check(CLI::PositiveNumber);
  cli.add_option("--pidfile", config.pidfile, "Write the process id here; refuse to start if "
                                              "a live process owns it");
  cli.add_option("-f,--logfile", config.logfile, "Log to this file instead of stderr");
  cli.add_option("-S,--statedb", config.statedb, "Keep revoked task ids in this file across "
                                                  "restarts");
}

common::Result<void> applyCeleryOperatorFlags(const CeleryOperatorFlags& flags,
                                              WorkerConfig& config) {
  config.worker_heartbeat = !flags.without_heartbeat;
  config.event_heartbeat_interval = std::chrono::seconds(flags.heartbeat_interval_s);
  config.time_limit = flags.time_limit;
  config.soft_time_limit = flags.soft_time_limit;
  if (!flags.autoscale.empty()) {
    std::size_t max = 0;
    std::size_t min = 0;
    if (!parseAutoscale(flags.autoscale, max, min)) {
      return common::Error{"--autoscale: expected MAX,MIN with 1 <= MAX and MIN <= MAX, got '" +
                           flags.autoscale + "'"};
    }
    config.concurrency = max;
    config.autoscale_min = min;
    config.notices.push_back("--autoscale " + flags.autoscale + ": one event loop holds " +
                             std::to_string(max) + " tasks in flight (-c " +
                             std::to_string(max) + "); nothing to scale");
  }
  const auto noop = [&config](const std::string& flag, const std::string& why) {
    config.notices.push_back(flag + " accepted: " + why);
  };
  if (!flags.app.empty()) noop("-A " + flags.app, "celeriac runs its own tasks, not an app's");
  if (!flags.optimization.empty()) {
    noop("-O " + flags.optimization, "tasks go to the one event loop as they arrive");
  }
  if (!flags.pool.empty()) noop("-P " + flags.pool, "celeriac has one event loop, no pool");
  if (flags.max_tasks_per_child) noop("--max-tasks-per-child", "there are no child processes");
  if (flags.max_memory_per_child) {
    noop("--max-memory-per-child", "there are no child processes");
  }
  if (flags.without_gossip) noop("--without-gossip", "celeriac never gossips");
  if (flags.without_mingle) noop("--without-mingle", "celeriac never mingles at start");
  return {};
}

}  // namespace celeriac::worker::app
