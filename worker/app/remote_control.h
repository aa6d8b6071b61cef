#pragma once
// RemoteControl: Celery's remote control (pidbox) for this worker, so `celery inspect`,
// `celery control`, `celery status` and Flower see celeriac as one more Celery worker.
//
// Requests arrive on `<nodename>.celery.pidbox` (an auto-ack queue bound to the fanout
// exchange `celery.pidbox`, declared by the broker connection); each is parsed
// (celery::parseControlRequest), dropped unless addressed to this node, run, and, when
// the client asked for one, answered on the transient channel to reply_to with the
// request's ticket and our Lamport clock. A command that fails replies
// {"error": repr(exc)}, an unknown one {"error": "KeyError('name')"}, as Celery does;
// nothing a request carries can end the process.
//
// The commands live in two files: remote_control_inspect.cc (read-only: ping, stats,
// active, reserved, scheduled, revoked, registered, query_task, active_queues, clock,
// conf, report) and remote_control_commands.cc (revoke, terminate, rate_limit,
// time_limit, add_consumer, cancel_consumer, pool_grow, pool_shrink, autoscale,
// enable_events, disable_events, heartbeat, hello, election); `shutdown` is run() in
// remote_control.cc, and never replies.
// Loop thread only.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/dispatcher.h"
#include "worker/amqp/amqp_connection.h"
#include "worker/app/event_dispatcher.h"
#include "worker/app/revoked_store.h"
#include "worker/app/task_pipeline.h"
#include "worker/app/worker_config.h"
#include "worker/celery/control_request.h"
#include "worker/celery/lamport_clock.h"
#include "worker/celery/request_info.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::app {

class RemoteControl {
 public:
  struct Parts {
    common::Dispatcher& dispatcher;
    TaskPipeline& pipeline;
    amqp::AmqpConnection& broker;
    RevokedStore& revoked;
    EventDispatcher& events;
    celery::LamportClock& clock;
    const tasks::TaskRegistry& registry;
    WorkerConfig& config;  // concurrency changes are written back (stats, conf)
    std::function<void()> shutdown;  // warm shutdown, as SIGTERM
    // This replica's key set for `stats` ({"name", "pinned", "leased", "shared"}); unset
    // or null: no key sets.
    std::function<nlohmann::json()> key_set = nullptr;
  };

  explicit RemoteControl(Parts parts);

  // The exchange and queue Celery 5.2 declares for this node.
  static amqp::ExchangeSpec pidboxExchange();
  static amqp::ExchangeSpec replyExchange();
  static amqp::AutoAckQueueSpec pidboxQueue(const std::string& nodename);

  void onRequest(const amqp::Delivery& delivery);

  [[nodiscard]] std::uint64_t handled() const { return handled_; }

 private:
  using Command = nlohmann::json (RemoteControl::*)(const nlohmann::json& arguments);
  // Runs one command. nullopt: send no reply (shutdown).
  std::optional<nlohmann::json> run(const celery::ControlRequest& request);
  void reply(const celery::ControlRequest& request, nlohmann::json value);
  [[nodiscard]] nlohmann::json requestInfo(const TaskPipeline::JobView& job, bool safe) const;
  [[nodiscard]] celery::RequestState requestState(const TaskPipeline::JobView& job) const;

  // remote_control_inspect.cc
  nlohmann::json ping(const nlohmann::json& arguments);
  nlohmann::json stats(const nlohmann::json& arguments);
  nlohmann::json active(const nlohmann::json& arguments);
  nlohmann::json reserved(const nlohmann::json& arguments);
  nlohmann::json scheduled(const nlohmann::json& arguments);
  nlohmann::json revokedIds(const nlohmann::json& arguments);
  nlohmann::json registered(const nlohmann::json& arguments);
  nlohmann::json queryTask(const nlohmann::json& arguments);
  nlohmann::json activeQueues(const nlohmann::json& arguments);
  nlohmann::json clock(const nlohmann::json& arguments);
  nlohmann::json conf(const nlohmann::json& arguments);
  nlohmann::json report(const nlohmann::json& arguments);
  // remote_control_commands.cc
  nlohmann::json revoke(const nlohmann::json& arguments);
  nlohmann::json terminate(const nlohmann::json& arguments);
  nlohmann::json rateLimit(const nlohmann::json& arguments);
  nlohmann::json timeLimit(const nlohmann::json& arguments);
  nlohmann::json addConsumer(const nlohmann::json& arguments);
  nlohmann::json cancelConsumer(const nlohmann::json& arguments);
  nlohmann::json poolGrow(const nlohmann::json& arguments);
  nlohmann::json poolShrink(const nlohmann::json& arguments);
  nlohmann::json autoscale(const nlohmann::json& arguments);
  nlohmann::json enableEvents(const nlohmann::json& arguments);
  nlohmann::json disableEvents(const nlohmann::json& arguments);
  nlohmann::json heartbeat(const nlohmann::json& arguments);
  nlohmann::json hello(const nlohmann::json& arguments);
  nlohmann::json election(const nlohmann::json& arguments);
  void resize(std::size_t concurrency);

  Parts parts_;
  std::map<std::string, Command, std::less<>> commands_;
  std::chrono::steady_clock::time_point started_;
  std::uint64_t handled_ = 0;
};

}  // namespace celeriac::worker::app
