#include "worker/amqp/topology_declarer.h"

#include "worker/amqp/amqp_table.h"
#include "worker/amqp/amqp_wire.h"

namespace celeriac::worker::amqp {

std::optional<DeclareFailure> TopologyDeclarer::check(std::string what) {
  const amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn_);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return std::nullopt;
  return DeclareFailure{std::move(what), reply};
}

std::optional<DeclareFailure> TopologyDeclarer::exchange(const ExchangeSpec& e) {
  amqp_exchange_declare(conn_, channel_, bytesOf(e.name), bytesOf(e.type), 0, e.durable ? 1 : 0,
                        e.auto_delete ? 1 : 0, 0, amqp_empty_table);
  return check("declare exchange " + e.name);
}

std::optional<DeclareFailure> TopologyDeclarer::taskQueue(const QueueSpec& q) {
  TableBuilder table(queueArguments(q));
  amqp_exchange_declare(conn_, channel_, bytesOf(q.name), amqp_cstring_bytes("direct"), 0, 1, 0, 0,
                        amqp_empty_table);
  if (auto f = check("declare exchange " + q.name)) return f;
  amqp_queue_declare(conn_, channel_, bytesOf(q.name), 0, 1, 0, 0, table.table());
  if (auto f = check("declare queue " + q.name)) return f;
  amqp_queue_bind(conn_, channel_, bytesOf(q.name), bytesOf(q.name), bytesOf(q.name),
                  amqp_empty_table);
  return check("declare binding " + q.name);
}

std::optional<DeclareFailure> TopologyDeclarer::delayTier(const DelayTier& tier, bool quorum) {
  const std::string name = tier.exchange();
  amqp_exchange_declare(conn_, channel_, bytesOf(name), amqp_cstring_bytes("fanout"), 0, 1, 0, 0,
                        amqp_empty_table);
  if (auto f = check("declare exchange " + name)) return f;
  // Expired messages go to the default exchange with their own routing key: the task
  // queue they were parked from.
  nlohmann::json args = {{"x-message-ttl", tier.ttl.count()}, {"x-dead-letter-exchange", ""}};
  if (quorum) args["x-queue-type"] = "quorum";
  TableBuilder table(args);
  amqp_queue_declare(conn_, channel_, bytesOf(name), 0, 1, 0, 0, table.table());
  if (auto f = check("declare queue " + name)) return f;
  amqp_queue_bind(conn_, channel_, bytesOf(name), bytesOf(name), amqp_empty_bytes,
                  amqp_empty_table);
  return check("declare binding " + name);
}

std::optional<DeclareFailure> TopologyDeclarer::autoAckQueue(const AutoAckQueueSpec& q) {
  TableBuilder table(autoAckQueueArguments(q));
  // exclusive=0 as kombu 5.2 declares the pidbox queue (topology.h).
  amqp_queue_declare(conn_, channel_, bytesOf(q.name), 0, q.durable ? 1 : 0, 0,
                     q.auto_delete ? 1 : 0, table.table());
  if (auto f = check("declare queue " + q.name)) return f;
  amqp_queue_bind(conn_, channel_, bytesOf(q.name), bytesOf(q.exchange), bytesOf(q.routing_key),
                  amqp_empty_table);
  return check("declare binding " + q.name);
}

}  // namespace celeriac::worker::amqp
