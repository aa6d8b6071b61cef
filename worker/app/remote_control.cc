#include "worker/app/remote_control.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "worker/celery/python_json.h"
#include "worker/celery/python_repr.h"
#include "worker/celery/request_info.h"

namespace celeriac::worker::app {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto logger = [] {
    auto existing = spdlog::get("celeriac.control");
    return existing ? existing : spdlog::default_logger()->clone("celeriac.control");
  }();
  return logger;
}

// Celery 5.2's control_queue_ttl and control_queue_expires.
constexpr std::chrono::milliseconds kPidboxMessageTtl{300'000};
constexpr std::chrono::milliseconds kPidboxQueueExpires{10'000};

std::uint64_t clockHeader(const nlohmann::json& headers) {
  auto it = headers.find("clock");
  if (it == headers.end() || !it->is_number()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer())
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->get<std::int64_t>()));
  return static_cast<std::uint64_t>(std::max(0.0, it->get<double>()));
}

}  // namespace

RemoteControl::RemoteControl(Parts parts)
    : parts_(std::move(parts)), started_(std::chrono::steady_clock::now()) {
  commands_ = {
      {"ping", &RemoteControl::ping},
      {"stats", &RemoteControl::stats},
      {"active", &RemoteControl::active},
      {"dump_active", &RemoteControl::active},
      {"reserved", &RemoteControl::reserved},
      {"dump_reserved", &RemoteControl::reserved},
      {"scheduled", &RemoteControl::scheduled},
      {"dump_schedule", &RemoteControl::scheduled},
      {"revoked", &RemoteControl::revokedIds},
      {"dump_revoked", &RemoteControl::revokedIds},
      {"registered", &RemoteControl::registered},
      {"dump_tasks", &RemoteControl::registered},
      {"query_task", &RemoteControl::queryTask},
      {"active_queues", &RemoteControl::activeQueues},
      {"clock", &RemoteControl::clock},
      {"conf", &RemoteControl::conf},
      {"dump_conf", &RemoteControl::conf},
      {"report", &RemoteControl::report},
      {"revoke", &RemoteControl::revoke},
      {"terminate", &RemoteControl::terminate},
      {"rate_limit", &RemoteControl::rateLimit},
      {"time_limit", &RemoteControl::timeLimit},
      {"add_consumer", &RemoteControl::addConsumer},
      {"cancel_consumer", &RemoteControl::cancelConsumer},
      {"pool_grow", &RemoteControl::poolGrow},
      {"pool_shrink", &RemoteControl::poolShrink},
      {"autoscale", &RemoteControl::autoscale},
      {"enable_events", &RemoteControl::enableEvents},
      {"disable_events", &RemoteControl::disableEvents},
      {"heartbeat", &RemoteControl::heartbeat},
      {"hello", &RemoteControl::hello},
      {"election", &RemoteControl::election},
  };
}

amqp::ExchangeSpec RemoteControl::pidboxExchange() {
  return amqp::ExchangeSpec{"celery.pidbox", "fanout", false, false};
}

amqp::ExchangeSpec RemoteControl::replyExchange() {
  return amqp::ExchangeSpec{"reply.celery.pidbox", "direct", false, false};
}

amqp::AutoAckQueueSpec RemoteControl::pidboxQueue(const std::string& nodename) {
  amqp::AutoAckQueueSpec q;
  q.name = nodename + ".celery.pidbox";
  q.exchange = "celery.pidbox";
  q.routing_key = "";
  q.durable = false;
  q.auto_delete = true;
  q.message_ttl = kPidboxMessageTtl;
  q.expires = kPidboxQueueExpires;
  return q;
}

void RemoteControl::onRequest(const amqp::Delivery& delivery) {
  const Result<celery::ControlRequest> parsed = celery::parseControlRequest(delivery.message.body);
  if (!parsed) {
    log()->warn("ignored a remote-control message: {}", parsed.error().message);
    return;
  }
  // As kombu's Node.handle_message: every request moves the clock (forward, then adjust
  // to the sender's), also one addressed to another node.
  parts_.clock.forward();
  parts_.clock.adjust(clockHeader(delivery.message.headers));
  const celery::ControlRequest& request = *parsed;
  if (!celery::addressedTo(request, parts_.config.hostname)) return;
  ++handled_;
  log()->debug("control command {} ticket={}", request.method, request.ticket);
  std::optional<nlohmann::json> value = run(request);
  if (value && request.wantsReply()) reply(request, std::move(*value));
}

std::optional<nlohmann::json> RemoteControl::run(const celery::ControlRequest& request) {
  if (request.method == "shutdown") {
    log()->warn("shutdown requested by remote control: warm shutdown");
    // After this turn, so that a reply-less cast still leaves the handler first.
    parts_.dispatcher.post([shutdown = parts_.shutdown] { shutdown(); });
    return std::nullopt;  // Celery never replies to shutdown
  }
  auto it = commands_.find(request.method);
  if (it == commands_.end()) return celery::unknownCommandReply(request.method);
  try {
    return (this->*(it->second))(request.arguments);
  } catch (const std::exception& e) {
    // Missing or wrongly typed arguments (nlohmann's type_error, out_of_range): Python
    // would raise TypeError calling the handler; reply the same way, never crash.
    log()->warn("control command {} failed: {}", request.method, e.what());
    return celery::controlError(
        celery::pythonExceptionRepr("TypeError", nlohmann::json::array({e.what()})));
  }
}

void RemoteControl::reply(const celery::ControlRequest& request, nlohmann::json value) {
  amqp::OutgoingMessage out;
  out.exchange = request.reply_exchange;
  out.routing_key = request.reply_routing_key;
  out.persistent = false;
  out.headers = nlohmann::json{
      {"ticket", request.ticket.empty() ? nlohmann::json(nullptr) : nlohmann::json(request.ticket)},
      {"clock", parts_.clock.forward()}};
  out.body = celery::dumpPythonJson(celery::controlReply(parts_.config.hostname, std::move(value)));
  if (!parts_.broker.publishTransient(std::move(out))) {
    log()->warn("reply to control command {} dropped: the broker is not taking messages",
                request.method);
  }
}

celery::RequestState RemoteControl::requestState(const TaskPipeline::JobView& job) const {
  celery::RequestState state;
  state.hostname = parts_.config.hostname;
  state.time_start = job.started;
  state.acknowledged = job.acknowledged;
  if (job.started) state.worker_pid = static_cast<std::int64_t>(::getpid());
  return state;
}

nlohmann::json RemoteControl::requestInfo(const TaskPipeline::JobView& job, bool safe) const {
  return celery::requestInfo(job.message, requestState(job), safe);
}

}  // namespace celeriac::worker::app
